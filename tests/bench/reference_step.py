"""One guided sampling step of the reference UNet in PyTorch, written as the reference writes
it: nn.MultiheadAttention with its defaults, two forward passes (with and without the label)
mixed with torch.lerp, then the DDPM update, under torch.no_grad(). Prints the median seconds
of --repeat steps after one warm-up, as JSON. Run with Debian's python3-torch (/usr/bin/python3).

  reference_step.py SEED64_COND.pt [--repeat N]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from reference_unet import UNetConditional  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    model = UNetConditional(num_classes=10)
    model.load_state_dict(torch.load(a.checkpoint, map_location="cpu"))
    model.eval()
    beta = torch.linspace(1e-4, 0.02, 1000)
    alpha = 1.0 - beta
    alpha_hat = torch.cumprod(alpha, dim=0)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    labels = torch.tensor([3])
    times = []
    with torch.no_grad():
        for i in range(a.repeat + 1):
            start = time.perf_counter()
            t = (torch.ones(1) * 500).long()
            predicted_noise = model(x, t, labels)
            uncond_predicted_noise = model(x, t, None)
            predicted_noise = torch.lerp(uncond_predicted_noise, predicted_noise, 3.0)
            a_t, ah_t, b_t = alpha[t][:, None, None, None], alpha_hat[t][:, None, None, None], beta[t][:, None, None, None]
            noise = torch.randn_like(x)
            x = 1 / torch.sqrt(a_t) * (x - ((1 - a_t) / torch.sqrt(1 - ah_t)) * predicted_noise) + torch.sqrt(b_t) * noise
            if i > 0:  # the first is the warm-up
                times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
