# The gpuslice image: gpuslice-device-plugin, the gpuslice CLI, libgpuslice.so (installed on
# each node by the chart's init container) and the simulated GPU libraries.
#   docker build -t ghcr.io/gpuslice/gpuslice:0.1.0 .
FROM debian:12 AS build
WORKDIR /src
COPY . .
# The same set-up and build as the README's first command.
RUN bash scripts/setup.sh \
 && cmake --workflow --preset release \
 && cmake --install build/release --prefix /usr/local/gpuslice

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libyaml-cpp0.7 libspdlog1.10 libfmt9 libcpp-httplib0.11 \
      libglpk40 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/gpuslice /usr/local/gpuslice
ENV PATH=/usr/local/gpuslice/bin:$PATH
ENTRYPOINT ["/usr/local/gpuslice/bin/gpuslice-device-plugin"]
