"""JAX under libgpuslice.so (scripts/gpu-proof.sh runs it in a container of its own, with JAX's
default preallocation: XLA_PYTHON_CLIENT_MEM_FRACTION of the memory the GPU reports).

  detect            prints JAX's version, or the reason it cannot be used (exit 1)
  run --slice B     the preallocated pool is a fraction of the slice, not of the GPU; a jitted
                    computation gives NumPy's results
"""

import argparse
import sys

from proof_result import mib, report


def detect():
    try:
        import jax
    except Exception as error:  # any import failure means the checks cannot run
        print(f"JAX is not installed (import jax: {type(error).__name__}: {error})")
        return 1
    print(jax.__version__)
    return 0


def run(slice_bytes):
    import jax
    import jax.numpy as jnp
    import numpy

    if jax.default_backend() != "gpu":
        reason = f"JAX has no GPU backend here (its default backend is {jax.default_backend()})"
        report("jax.preallocation", "skip", "", reason)
        report("jax.jit", "skip", "", reason)
        return
    device = jax.devices("gpu")[0]
    jnp.zeros(1).block_until_ready()  # the client, and its preallocation, exist from here on
    limit = (device.memory_stats() or {}).get("bytes_limit", 0)
    fraction = limit / slice_bytes
    report("jax.preallocation", 0 < limit <= slice_bytes,
           f"{mib(limit)} = {100 * fraction:.1f}% of the slice",
           f"the pool JAX preallocates must come from the slice, {mib(slice_bytes)}")

    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((512, 512), dtype=numpy.float32)
    b = rng.standard_normal((512, 512), dtype=numpy.float32)
    with jax.default_matmul_precision("highest"):
        result = numpy.asarray(jax.jit(lambda x, y: jnp.tanh(x @ y))(a, b))
    expected = numpy.tanh(a.astype(numpy.float64) @ b.astype(numpy.float64))
    worst = float(numpy.abs(result - expected).max())
    report("jax.jit", worst < 1e-3, f"max |jit - NumPy| {worst:.1e}",
           "a jitted tanh(A @ B) against NumPy in float64")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("detect")
    sub.add_parser("run").add_argument("--slice", type=int, required=True)
    args = parser.parse_args()
    if args.command == "detect":
        return detect()
    run(args.slice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
