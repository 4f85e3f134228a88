# The gpuslice image: gpuslice-device-plugin, the gpuslice CLI, libgpuslice.so (installed on
# each node by the chart's init container) and the simulated GPU libraries.
#   buildah bud --layers -t ghcr.io/gpuslice/gpuslice:0.1.0 .    (or docker build)
# scripts/cluster.sh image builds it this way and loads it into the e2e cluster.
FROM debian:12 AS build
WORKDIR /src
# The set-up first, on its own: a source change then rebuilds only the layers below it.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh
COPY . .
# The README's first command's build, without the benchmarks; the ccache directory is a
# build cache that outlives the layer, so rebuilding after a small change takes seconds.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake --preset release -DGPUSLICE_BUILD_BENCH=OFF \
 && cmake --build --preset release \
 && cmake --install build/release --prefix /usr/local/gpuslice

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libyaml-cpp0.7 libspdlog1.10 libfmt9 libcpp-httplib0.11 \
      libglpk40 libcurl4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/gpuslice /usr/local/gpuslice
ENV PATH=/usr/local/gpuslice/bin:$PATH
ENTRYPOINT ["/usr/local/gpuslice/bin/gpuslice-device-plugin"]
