"""One model-server worker process: ``python -m cove.serving.worker``.

::

    python -m cove.serving.worker --socket PATH --model-dir DIR
        --runtime {xgboost,linear-learner,sklearn,pytorch}
        [--code-dir DIR] [--entry-point inference.py] [--failure-file PATH]

The model is loaded first.  If that fails, the failure file gets one actionable paragraph, the
traceback goes to stderr and the process exits 1; only a loaded model gets a socket.  Then it
serves the SageMaker inference contract over HTTP/1.1 on the Unix socket until SIGTERM.  The
environment is the model's ``Environment`` (``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``,
``SAGEMAKER_PROGRAM``, ...).

Before loading, the failure file already says the worker died while loading (a crash in native
code leaves no chance to write it later); a successful load removes it.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
from pathlib import Path

from cove.serving._errors import ModelLoadError
from cove.serving._load import RUNTIMES, load_runtime


class FailureFile:
    """The worker's failure reason for cove (FailureReason of a Failed endpoint)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, reason: str) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(reason.strip() + "\n")
        except OSError as exc:
            print(f"cove-worker: could not write {self.path}: {exc}", file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # the endpoint's log, line by line
    failure = FailureFile(args.failure_file)
    failure.write("The worker process died while loading the model (a crash in native code?); "
                  "the endpoint's log has its last output.")
    started = time.perf_counter()
    try:
        runtime = load_runtime(args.runtime, args.model_dir, args.code_dir, args.entry_point)
    except ModelLoadError as exc:
        return _failed(failure, exc, exc.reason)
    except Exception as exc:  # the last line of defence: whatever the loader did not foresee
        return _failed(failure, exc, f"Loading the {args.runtime} model failed with "
                                     f"{type(exc).__name__}: {exc} (traceback in the endpoint's "
                                     f"log).")
    failure.clear()
    from cove.serving._app import WorkerApp
    from cove.serving._http import serve
    serve(WorkerApp(runtime), str(args.socket),
          ready=f"cove-worker: loaded the {args.runtime} model from {args.model_dir} in "
                f"{time.perf_counter() - started:.2f}s; serving on {args.socket}")
    return 0


def _failed(failure: FailureFile, exc: BaseException, reason: str) -> int:
    traceback.print_exception(exc, file=sys.stderr)
    print(f"cove-worker: {reason}", file=sys.stderr, flush=True)
    failure.write(reason)
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cove.serving.worker",
                                     description="Serve one model on a Unix socket.")
    parser.add_argument("--socket", required=True,
                        help="Unix socket to listen on: a path, or fd:N for one cove bound")
    parser.add_argument("--model-dir", required=True, type=Path,
                        help="the extracted model.tar.gz")
    parser.add_argument("--runtime", required=True, choices=RUNTIMES)
    parser.add_argument("--code-dir", type=Path, default=None,
                        help="script mode: the directory holding the entry point")
    parser.add_argument("--entry-point", default=None,
                        help="script mode: the module file (default: $SAGEMAKER_PROGRAM)")
    parser.add_argument("--failure-file", type=Path, default=None,
                        help="where to write why loading failed")
    return parser


if __name__ == "__main__":
    sys.exit(main())
