"""PyTorch under libgpuslice.so; scripts/gpu-proof.sh runs each subcommand in a container of
its own (PYTORCH_CUDA_ALLOC_CONF picks the allocator before CUDA starts).

  detect                        prints torch's version, or the reason it cannot be used (exit 1)
  basics --slice B              torch.cuda.mem_get_info() is the slice; a CUDA graph captured
                                and replayed gives the eager results
  oom --slice B --name N        64 MiB tensors until torch.OutOfMemoryError: refused at the slice
                                (within 2%), no crash, and the memory comes back
  numbers --out FILE            a GEMM and five training steps, saved for compare
  compare --with A --without B  the two runs' numbers must be identical, bit for bit
  train-speed --seconds S       STEPS <training steps per second> of a small MLP
"""

import argparse
import sys
import time

from proof_result import MIB, fill_result, mib, report


def detect():
    try:
        import torch
    except Exception as error:  # any import failure means the checks cannot run
        print(f"PyTorch is not installed (import torch: {type(error).__name__}: {error})")
        return 1
    if torch.version.cuda is None:
        print(f"PyTorch {torch.__version__} is a build without CUDA")
        return 1
    print(f"{torch.__version__} (CUDA {torch.version.cuda})")
    return 0


def basics(slice_bytes):
    import torch

    free, total = torch.cuda.mem_get_info()
    report("torch.mem_info", total == slice_bytes and free <= total,
           f"total {mib(total)}, free {mib(free)}",
           f"torch.cuda.mem_get_info() must be the slice, {mib(slice_bytes)}")

    generator = torch.Generator(device="cuda").manual_seed(0)
    weight = torch.randn(1024, 1024, device="cuda", generator=generator)
    static_input = torch.zeros(1024, 1024, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture, as PyTorch asks
        for _ in range(3):
            torch.relu(static_input @ weight + 1)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_output = torch.relu(static_input @ weight + 1)
    worst = 0.0
    for _ in range(10):
        sample = torch.randn(1024, 1024, device="cuda", generator=generator)
        static_input.copy_(sample)
        graph.replay()
        eager = torch.relu(sample @ weight + 1)
        torch.cuda.synchronize()
        worst = max(worst, (static_output - eager).abs().max().item())
    report("torch.graph", worst <= 1e-4, f"10 replays, max |graph - eager| {worst:.2e}",
           "torch.cuda.graph capture and replay of a GEMM + ReLU")


def oom(slice_bytes, name):
    import torch

    out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    torch.cuda.init()
    free_before, _ = torch.cuda.mem_get_info()
    blocks = []
    refused, error = False, ""
    try:
        while len(blocks) * 64 * MIB < 4 * slice_bytes:
            blocks.append(torch.empty(64 * MIB, dtype=torch.uint8, device="cuda"))
    except out_of_memory as caught:
        refused, error = True, f"{type(caught).__name__} after {len(blocks)} tensors"
    free_at_refusal, _ = torch.cuda.mem_get_info()
    held = len(blocks) * 64 * MIB
    del blocks
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    free_after, _ = torch.cuda.mem_get_info()
    fill_result(f"torch.oom.{name}", slice_bytes, held, free_before, free_at_refusal, refused,
                free_after, error or "no OutOfMemoryError")


def numbers(out):
    import torch

    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    a = torch.randn(2048, 2048).cuda()
    b = torch.randn(2048, 2048).cuda()
    gemm = (a @ b).cpu()
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(),
                                torch.nn.Linear(1024, 10)).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    inputs = torch.randn(256, 512).cuda()
    labels = torch.randint(0, 10, (256,)).cuda()
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    torch.save({"gemm": gemm, "losses": torch.stack(losses).cpu(),
                "params": [p.detach().cpu() for p in model.parameters()]}, out)


def compare(with_path, without_path):
    import torch

    with_library = torch.load(with_path)
    without = torch.load(without_path)
    diff = (with_library["gemm"] - without["gemm"]).abs().max().item()
    report("torch.numbers.gemm", torch.equal(with_library["gemm"], without["gemm"]),
           f"max |difference| {diff:.1e}", "2048x2048 fp32 GEMM with and without the library")
    same = torch.equal(with_library["losses"], without["losses"]) and all(
        torch.equal(x, y) for x, y in zip(with_library["params"], without["params"]))
    report("torch.numbers.train", same,
           "losses " + " ".join(f"{v:.6f}" for v in with_library["losses"].tolist()),
           "five SGD steps of an MLP with and without the library: losses and weights identical")


def train_speed(seconds):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(),
                                torch.nn.Linear(4096, 1024)).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = torch.randn(256, 1024, device="cuda")

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(inputs).square().mean().backward()
        optimizer.step()

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            step()
        steps += 10
        torch.cuda.synchronize()
    print(f"STEPS {steps / (time.perf_counter() - start):.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("detect")
    sub.add_parser("basics").add_argument("--slice", type=int, required=True)
    p = sub.add_parser("oom")
    p.add_argument("--slice", type=int, required=True)
    p.add_argument("--name", required=True)
    sub.add_parser("numbers").add_argument("--out", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--with", dest="with_path", required=True)
    p.add_argument("--without", required=True)
    sub.add_parser("train-speed").add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    if args.command == "detect":
        return detect()
    if args.command == "basics":
        basics(args.slice)
    elif args.command == "oom":
        oom(args.slice, args.name)
    elif args.command == "numbers":
        numbers(args.out)
    elif args.command == "compare":
        compare(args.with_path, args.without)
    else:
        train_speed(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
