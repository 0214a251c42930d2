"""PyTorch CPU peer of `npm run bench` (bench/run.ts writes the job, this prints JSON results).

Same layers, initial weights (converted from torchlet's channels-last, [in, out] layouts), batch
order, loss convention and learning rate as torchlet; plain torch.optim.SGD; one thread.
Usage: /usr/bin/python3 bench/torch_bench.py JOB_DIR
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

# One thread unless the job says otherwise (the bench's all-cores row sets TORCH_BENCH_THREADS).
torch.set_num_threads(int(os.environ.get("TORCH_BENCH_THREADS", "1")))


def load(path, dtype=torch.float32):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=dtype)


class ChannelsLastFlatten(torch.nn.Module):
    """Flattens [batch, C, ...] in channels-last order, so torchlet's Linear weights fit."""

    def forward(self, x):
        dims = [0] + list(range(2, x.dim())) + [1]
        return x.permute(*dims).reshape(x.shape[0], -1)


def build(layers, weights):
    mods, it = [], iter(weights)
    for l in layers:
        t = l["type"]
        if t == "linear":
            m = torch.nn.Linear(l["nIn"], l["nOut"])
            m.weight.data = next(it).reshape(l["nIn"], l["nOut"]).t().contiguous()
            m.bias.data = next(it).clone()
        elif t == "conv1d":
            m = torch.nn.Conv1d(l["cIn"], l["cOut"], l["k"])
            w = next(it).reshape(l["k"], l["cIn"], l["cOut"])  # torchlet [k, in, out]
            m.weight.data = w.permute(2, 1, 0).contiguous()
            m.bias.data = next(it).clone()
        elif t == "conv2d":
            m = torch.nn.Conv2d(l["cIn"], l["cOut"], l["k"])
            w = next(it).reshape(l["k"], l["k"], l["cIn"], l["cOut"])  # [kh, kw, in, out]
            m.weight.data = w.permute(3, 2, 0, 1).contiguous()
            m.bias.data = next(it).clone()
        elif t == "maxpool1d":
            m = torch.nn.MaxPool1d(l["k"])
        elif t == "maxpool2d":
            m = torch.nn.MaxPool2d(l["k"])
        elif t == "flatten":
            m = ChannelsLastFlatten()
        else:
            m = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[t]()
        mods.append(m)
    return torch.nn.Sequential(*mods)


def train(job, d):
    n, shape, batch = job["n"], job["inputShape"], job["batch"]
    x = load(os.path.join(d, job["x"])).reshape(n, *shape)
    if len(shape) > 1:  # channels last -> PyTorch's channels first, once, outside the timing
        x = x.permute(0, len(shape), *range(1, len(shape))).contiguous()
    y = load(os.path.join(d, job["y"]))
    y = y.long() if job["loss"] == "ce" else y.reshape(n, -1)
    weights = [load(os.path.join(d, f)) for f in job["weights"]]
    net = build(job["layers"], weights)
    opt = torch.optim.SGD(net.parameters(), lr=job["lr"])
    orders = load(os.path.join(d, job["orders"]), torch.int32).reshape(-1, n).long()
    if job.get("warmup"):
        return warmup(job, net, opt, x, y, orders)
    rates = []
    for order in orders:
        t0, done = time.perf_counter(), 0
        # Replay the epoch until the round has run minRoundSeconds, as the torchlet side does.
        while True:
            for start in range(0, n - batch + 1, batch):
                idx = order[start:start + batch]
                step(job, net, opt, x.index_select(0, idx), y.index_select(0, idx))
                done += batch
                if time.perf_counter() - t0 > job["roundSeconds"]:
                    break
            if time.perf_counter() - t0 >= job.get("minRoundSeconds", 0):
                break
        rates.append(done / (time.perf_counter() - t0))
    return rates


def step(job, net, opt, xb, yb):
    out = net(xb)
    if job["loss"] == "ce":
        loss = F.cross_entropy(out, yb)
    else:
        loss = F.binary_cross_entropy(out, yb, reduction="sum") / job["batch"]
    opt.zero_grad(set_to_none=False)
    loss.backward()
    opt.step()


def warmup(job, net, opt, x, y, orders):
    """An ordinary run in this fresh process: one epoch per order (full batches), each timed, then
    more epochs (the orders again) until steadySeconds have passed: seconds per epoch."""
    n, batch, epochs = job["n"], job["batch"], job["warmup"]["epochs"]
    seconds, warm_end, e = [], 0.0, 0
    while True:
        order = orders[e % len(orders)]
        t0 = time.perf_counter()
        for start in range(0, n - batch + 1, batch):
            idx = order[start:start + batch]
            step(job, net, opt, x.index_select(0, idx), y.index_select(0, idx))
        t1 = time.perf_counter()
        seconds.append(t1 - t0)
        e += 1
        if e == epochs:
            warm_end = t1
        if e >= epochs + 3 and t1 - warm_end >= job["warmup"]["steadySeconds"]:
            return seconds


def gemm(shapes, runs, min_s):
    out = []
    for s in shapes:
        m, k, n = s["m"], s["k"], s["n"]
        a, at = torch.rand(m, k), torch.rand(k, m)
        b, bt = torch.rand(k, n), torch.rand(n, k)
        c = torch.empty(m, n)
        res = dict(s)
        for form, f in (("nn", lambda: torch.mm(a, b, out=c)),
                        ("nt", lambda: torch.mm(a, bt.t(), out=c)),
                        ("tn", lambda: torch.mm(at.t(), b, out=c))):
            f()
            reps = 1
            while True:
                t0 = time.perf_counter()
                for _ in range(reps):
                    f()
                if time.perf_counter() - t0 >= min_s:
                    break
                reps *= 2
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                for _ in range(reps):
                    f()
                times.append((time.perf_counter() - t0) / reps)
            times.sort()
            res[form] = 2 * m * k * n / times[len(times) // 2] / 1e9
        out.append(res)
    return out


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "job.json")) as f:
        job = json.load(f)
    result = {"version": torch.__version__, "threads": torch.get_num_threads(), "workloads": {}}
    for w in job["workloads"]:
        result["workloads"][w["id"]] = train(w, d)
    if "gemm" in job:
        result["gemm"] = gemm(job["gemm"]["shapes"], job["gemm"]["runs"], job["gemm"]["minMs"] / 1000)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
