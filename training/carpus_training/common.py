"""Shared training plumbing: config, seeding, checkpoints with resume, time budget, logs."""
from __future__ import annotations

import json
import os
import random
import time

import numpy as np
import torch


def load_config(path, overrides=None):
    with open(path) as f:
        cfg = json.load(f)
    for kv in overrides or []:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    return cfg


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Budget:
    """Stop before an epoch that would end after the time budget."""

    def __init__(self, seconds):
        self.t0 = time.time()
        self.seconds = seconds
        self.last_epoch = None

    def epoch_done(self, seconds):
        self.last_epoch = seconds

    def allows_another(self):
        if self.seconds is None:
            return True
        used = time.time() - self.t0
        need = self.last_epoch or 0.0
        return used + need <= self.seconds


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def rng_state():
    return {"py": random.getstate(), "np": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(s):
    random.setstate(s["py"])
    np.random.set_state(s["np"])
    torch.set_rng_state(s["torch"])


class JsonlLog:
    def __init__(self, path):
        self.path = path

    def write(self, **rec):
        rec["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = json.dumps(rec)
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")
