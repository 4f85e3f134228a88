"""CuPy under libgpuslice.so (scripts/gpu-proof.sh runs it in a container of its own).

  detect            prints CuPy's version, or the reason it cannot be used (exit 1)
  run --slice B     memGetInfo is the slice; the default memory pool is refused at the slice
                    (within 2%) with OutOfMemoryError and gives the memory back; a kernel's
                    results are exact
"""

import argparse
import sys

from proof_result import MIB, fill_result, mib, report


def detect():
    try:
        import cupy
    except Exception as error:  # any import failure means the checks cannot run
        print(f"CuPy is not installed (import cupy: {type(error).__name__}: {error})")
        return 1
    print(cupy.__version__)
    return 0


def run(slice_bytes):
    import cupy
    import numpy

    free, total = cupy.cuda.runtime.memGetInfo()
    report("cupy.mem_info", total == slice_bytes and free <= total,
           f"total {mib(total)}, free {mib(free)}",
           f"cupy.cuda.runtime.memGetInfo() must be the slice, {mib(slice_bytes)}")

    pool = cupy.get_default_memory_pool()
    free_before = free
    blocks = []
    refused, error = False, ""
    try:
        while len(blocks) * 64 * MIB < 4 * slice_bytes:
            blocks.append(cupy.empty(64 * MIB, dtype=cupy.uint8))
    except cupy.cuda.memory.OutOfMemoryError as caught:
        refused, error = True, f"{type(caught).__name__} after {len(blocks)} arrays"
    free_at_refusal, _ = cupy.cuda.runtime.memGetInfo()
    held = len(blocks) * 64 * MIB
    del blocks
    pool.free_all_blocks()
    free_after, _ = cupy.cuda.runtime.memGetInfo()
    fill_result("cupy.pool_oom", slice_bytes, held, free_before, free_at_refusal, refused,
                free_after, error or "no OutOfMemoryError")

    host = numpy.arange(1 << 20, dtype=numpy.float32)
    device = cupy.asarray(host) * numpy.float32(0.5) + numpy.float32(1)
    expected = host * numpy.float32(0.5) + numpy.float32(1)
    wrong = int((cupy.asnumpy(device) != expected).sum())
    report("cupy.kernel", wrong == 0, f"{(1 << 20) - wrong}/{1 << 20} exact",
           "an elementwise kernel's results against NumPy")


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
