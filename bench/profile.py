"""cProfile romancy's W1 (start → wait) and W2 (deliver → complete).

    python -m bench.profile [-n 1000] [--sort tottime|cumtime] [--limit 30] [--mode normal|full]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import tempfile

from .common import EVENT_TYPE
from .sys_romancy import _payload, open_app, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--mode", default="normal")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-profile-")
    try:
        app = open_app(folder, "profile.db", args.mode)
        warm_up(app)
        w1, w2 = cProfile.Profile(), cProfile.Profile()
        w1.enable()
        ids = [app.start("bench_pay", i) for i in range(args.n)]
        w1.disable()
        w2.enable()
        for i, iid in enumerate(ids):
            app.send_event(EVENT_TYPE, _payload(i), instance=iid)
        w2.disable()
        app.shutdown()
        for name, profile in (("W1 start → wait", w1), ("W2 deliver → complete", w2)):
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.strip_dirs().sort_stats(args.sort).print_stats(args.limit)
            print(f"==== {name} (n={args.n}, sorted by {args.sort}) ====")
            print(out.getvalue())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
