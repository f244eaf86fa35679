#!/usr/bin/env python3
"""Writes crafted weight files, as a hostile user would make them, for tst_hostileweights.

Usage: make_hostile_weights.py OUTDIR HONEST_RUNDIR
           writes the files below into OUTDIR; HONEST_RUNDIR is a run folder trained by LeanTune
           (its config.json is copied into the crafted run folders, so that they parse).
       make_hostile_weights.py measure REPORT TIMEOUT_S -- COMMAND [ARG ...]
           runs COMMAND (stdout and stderr passed through), kills it after TIMEOUT_S, and writes
           REPORT: a JSON object {exit_code, signal, timed_out, seconds, max_rss_kib}.

Files (each refused by a reader that runs nothing and bounds what it builds):
  setstate-writes.pt / run-setstate-writes/: a LeanTune-looking export and run folder (model.pt and
      a checkpoint with LeanTune's header and SHA-256) whose TorchScript __setstate__ creates the
      file OUTDIR/pwned-setstate (torch.from_file(path, True, n)) when the archive's code is run;
  setstate-loop.pt / run-setstate-loop/: a __setstate__ that loops forever;
  setstate-alloc.pt: a __setstate__ that allocates 8 GiB;
  setstate-dict.pt: an export whose __getstate__ returns a dict (taken as plain attributes) and
      whose __setstate__ would create OUTDIR/pwned-setstate;
  deep-marks.pth, deep-lists.pth: data.pkl nested 100,000 deep ('(' x N + 'l' x N; ']' x N +
      'a' x N), 200 KB;
  run-deep/: a run folder whose model.pt (valid header) holds the deep pickle;
  zip-bomb.pth: a 1 MB zip whose data.pkl inflates to 1 GiB of 'N' (push None);
  zip-liar.pth: the same, its central directory claiming that data.pkl inflates to 1000 bytes;
  many-ops.pth: a 20 MB pickle of 10 million opcode pairs (']0': new list, pop);
  many-values.pth: a 12 MB pickle that pushes 12 million Nones;
  many-lists.pth: a 12 MB pickle that builds (and pops) 6 million empty lists;
  huge-key.pth: a torch.save() state_dict whose one key is 200 MB long;
  long-key.pth: the same with a 2 MiB key (under the pickle's size and string limits).
"""
import hashlib
import importlib.util
import io
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile

MAGIC = b"LEANTUNE-FILE01\n"


def measure(report, timeout, command):
    start = time.monotonic()
    p = subprocess.Popen(command)
    timed_out = False
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        p.kill()
        p.wait()
    seconds = time.monotonic() - start
    rc = p.returncode
    with open(report, "w") as f:
        json.dump({"exit_code": rc if rc >= 0 else -1, "signal": -rc if rc < 0 and not timed_out else 0,
                   "timed_out": timed_out, "seconds": seconds,
                   "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, f)


def checked(payload):
    """LeanTune's checked-file header: magic, payload size (little endian), SHA-256."""
    return MAGIC + struct.pack("<Q", len(payload)) + hashlib.sha256(payload).digest() + payload


def zip_with_pickle(path, pickle, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/version", "3\n")


def run_folder(out, honest, name, model_bytes):
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "checkpoints"), exist_ok=True)
    shutil.copy(os.path.join(honest, "config.json"), d)
    with open(os.path.join(d, "model.pt"), "wb") as f:
        f.write(checked(model_bytes))
    with open(os.path.join(d, "checkpoints", "step-0000000001.ckpt"), "wb") as f:
        f.write(checked(model_bytes))


SETSTATE_SOURCE = '''
import torch
from typing import Tuple


class Hostile(torch.nn.Module):
    def __init__(self, description: str):
        super().__init__()
        self.leantune_description = description
        self.weight = torch.zeros(2)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:
        return (self.leantune_description, self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:
        BODY
        self.leantune_description = state[0]
        self.weight = state[1] + extra[:2] * 0.0
        self.training = state[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
'''


DICT_STATE_SOURCE = '''
import torch
from typing import Dict


class Hostile(torch.nn.Module):
    def __init__(self, description: str):
        super().__init__()
        self.leantune_description = description

    @torch.jit.export
    def __getstate__(self) -> Dict[str, str]:
        return {"leantune_description": self.leantune_description}

    @torch.jit.export
    def __setstate__(self, state: Dict[str, str]) -> None:
        BODY
        self.leantune_description = state["leantune_description"] + str(extra.size(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
'''


def scripted(out, name, body, description, template=SETSTATE_SOURCE):
    """A TorchScript module whose __setstate__ runs BODY (which sets the tensor `extra`, used so
    that the compiler keeps it), saved to bytes."""
    import torch

    source = os.path.join(out, "src_" + name + ".py")
    with open(source, "w") as f:
        f.write(template.replace("BODY", body))
    spec = importlib.util.spec_from_file_location("hostile_" + name, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    m = torch.jit.script(module.Hostile(description))
    buffer = io.BytesIO()
    torch.jit.save(m, buffer)
    os.remove(source)
    return buffer.getvalue()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(out, honest):
    import torch

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(honest, "config.json")) as f:
        description = json.dumps(json.load(f), separators=(",", ":"))

    marker = os.path.join(out, "pwned-setstate")
    bodies = {
        "writes": "extra = torch.from_file(%r, True, 16)" % marker,
        "loop": "i = 0\n        while i >= 0:\n            i = (i + 1) % 1000\n"
                "        extra = torch.zeros(2)",
        "alloc": "extra = torch.ones(2 * 1024 * 1024 * 1024, dtype=torch.float32)",
    }
    for name, body in bodies.items():
        archive = scripted(out, name, body, description)
        write(os.path.join(out, "setstate-%s.pt" % name), archive)
        if name != "alloc":
            run_folder(out, honest, "run-setstate-" + name, archive)

    # A dict state, which the reader takes as plain attributes: the archive loads as data and the
    # model is refused for its missing tensors, while __setstate__ (which would write the file) is
    # never compiled.
    archive = scripted(out, "dictstate", bodies["writes"], description, DICT_STATE_SOURCE)
    write(os.path.join(out, "setstate-dict.pt"), archive)

    n = 100000
    deep_marks = b"\x80\x02" + b"(" * n + b"l" * n + b"."
    deep_lists = b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."
    zip_with_pickle(os.path.join(out, "deep-marks.pth"), deep_marks)
    zip_with_pickle(os.path.join(out, "deep-lists.pth"), deep_lists)
    deep_archive = io.BytesIO()
    zip_with_pickle(deep_archive, deep_lists)
    run_folder(out, honest, "run-deep", deep_archive.getvalue())

    # 1 GiB of 'N' deflated, streamed so that this script stays small too.
    with zipfile.ZipFile(os.path.join(out, "zip-bomb.pth"), "w", zipfile.ZIP_DEFLATED,
                         compresslevel=9) as z:
        with z.open("archive/data.pkl", "w", force_zip64=True) as f:
            f.write(b"\x80\x02")
            chunk = b"N" * (1 << 24)
            for _ in range(64):
                f.write(chunk)
            f.write(b".")
        z.writestr("archive/version", "3\n")

    # The same bomb whose central directory claims data.pkl inflates to 1000 bytes.
    with open(os.path.join(out, "zip-bomb.pth"), "rb") as f:
        bomb = bytearray(f.read())
    header = bomb.find(b"PK\x01\x02")
    while bomb[header + 46:header + 62] != b"archive/data.pkl":
        header = bomb.find(b"PK\x01\x02", header + 4)
    if struct.unpack_from("<I", bomb, header + 24)[0] == 0xFFFFFFFF:
        extra = header + 46 + struct.unpack_from("<H", bomb, header + 28)[0]
        assert struct.unpack_from("<H", bomb, extra)[0] == 1  # zip64: the uncompressed size first
        struct.pack_into("<Q", bomb, extra + 4, 1000)
    else:
        struct.pack_into("<I", bomb, header + 24, 1000)
    write(os.path.join(out, "zip-liar.pth"), bytes(bomb))

    zip_with_pickle(os.path.join(out, "many-ops.pth"), b"\x80\x02" + b"]0" * 10000000 + b"N.")
    zip_with_pickle(os.path.join(out, "many-values.pth"), b"\x80\x02" + b"N" * 12000000 + b".")
    zip_with_pickle(os.path.join(out, "many-lists.pth"), b"\x80\x02" + b"]0" * 6000000 + b"N.")

    for name, size in (("huge-key.pth", 200 * 1000 * 1000), ("long-key.pth", 2 * 1024 * 1024)):
        torch.save({"k" * size: torch.zeros(2)}, os.path.join(out, name))


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "measure" and sys.argv[4] == "--":
        measure(sys.argv[2], float(sys.argv[3]), sys.argv[5:])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
