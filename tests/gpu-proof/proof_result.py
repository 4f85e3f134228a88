"""What the proof kit's Python checks print: one line per check, as scripts/gpu-proof.sh reads
them (RESULT <tab> check <tab> pass|fail|skip <tab> figure <tab> detail)."""

import sys

MIB = 1 << 20


def report(check, result, figure, detail):
    """`result` is True (pass), False (fail) or one of "pass", "fail", "skip"."""
    if result is True or result is False:
        result = "pass" if result else "fail"
    fields = [check, result, figure, detail]
    print("RESULT\t" + "\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields))
    sys.stdout.flush()


def mib(n):
    return f"{n // MIB} MiB"


def fill_result(check, slice_bytes, held, free_before, free_at_refusal, refused, free_after,
                error):
    """Reports a fill-until-refused run that got `held` bytes: passes when the framework's own
    out-of-memory error came at the slice (never past it, at most 2% of it still free) and the
    frees gave the memory back (within 2%)."""
    used = slice_bytes - free_at_refusal
    figure = f"refused at {100.0 * used / slice_bytes:.1f}% of the slice ({mib(used)} of {mib(slice_bytes)})"
    tolerance = slice_bytes // 50
    if not refused:
        report(check, False, figure, f"never refused: {error}")
    elif held > slice_bytes:
        report(check, False, figure, f"held {mib(held)} before the refusal, past the slice")
    elif free_at_refusal > tolerance:
        report(check, False, figure, f"refused with {mib(free_at_refusal)} of the slice still free")
    elif free_after + tolerance < free_before:
        report(check, False, figure,
               f"frees did not come back: {mib(free_after)} free after, {mib(free_before)} before")
    else:
        report(check, True, figure, f"{error}; {mib(free_after)} free after the frees")
