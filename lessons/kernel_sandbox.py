"""Run a learner's Triton kernel where it cannot crash the notebook: in a child process, through the interpreter.

A lane that loads or stores past the end of a tensor reads or writes memory the tensor does not own. On a GPU that
is garbage or corruption; in Triton's interpreter it can kill the whole process, and a notebook's kernel with it.
So a check never launches a learner's kernel in its own process. It reads the kernel's source (`learner_kernel`),
answers at once what the source alone shows (`require_finished`, `require_masks`), then runs every case in one
child process (`run_learner_kernel`: `python -m lessons.kernel_sandbox JOB_FOLDER`, TRITON_INTERPRET=1, CPU
tensors). The child sends back the tensors, or the learner's error and the line it came from; a crash or a
timeout is reported in plain words. Triton is imported lazily: it has Linux wheels only.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from lessons.checking import NotYet, _file_name

TIMEOUT_S = 60.0                     # per check, all cases together; importing torch and triton alone takes ~3 s
REPOSITORY = Path(__file__).resolve().parent.parent
_KERNEL_FILE, _LAUNCHES_FILE, _RESULTS_FILE, _ERROR_FILE = "kernel.py", "launches.pt", "results.pt", "error.json"
OUT_OF_BOUNDS = ("your kernel read or wrote out of bounds (the process running it crashed{signal}): "
                 "check the mask on every tl.load and tl.store.")


@dataclass(frozen=True)
class Launch:
    """One run of the kernel: `kernel[(programs,)](*args)`. Tensors in `args` come back as the kernel left them."""

    label: str                       # the case in words, e.g. "T = 37, BLOCK = 16"
    programs: int                    # the grid: programs along axis 0
    args: tuple                      # CPU tensors and Python numbers, in the kernel's parameter order


@dataclass(frozen=True)
class LearnerKernel:
    """A learner's @triton.jit kernel as source: the `def` and its body, and where the learner wrote them."""

    name: str
    definition: ast.FunctionDef      # parsed from `source`; line 1 is the `def` line
    source: str                      # dedented, from the `def` line on (decorators dropped)
    filename: str                    # the file or notebook cell it was written in
    def_line: int                    # the line of `def` in that file

    def where(self, line: int) -> str:
        """'\\n  at Cell In[5], line 7: tl.store(...)' for line `line` of `source` (1 is the `def` line); empty for a
        line outside it."""
        lines = self.source.splitlines()
        if not 1 <= line <= len(lines):
            return ""
        code = lines[line - 1].strip()
        return f"\n  at {_file_name(self.filename)}, line {self.def_line + line - 1}: {code}"


# ------------------------------------------------------------------------------------------ reading the source
def learner_kernel(kernel, parameters: str) -> LearnerKernel:
    """The source of `kernel`, a @triton.jit function taking `parameters` (e.g. "(x_ptr, y_ptr, T, BLOCK)", whose
    last is a tl.constexpr); NotYet if it is missing, not a Triton kernel, or takes other parameters."""
    if kernel is None:
        raise NotYet("you haven't passed a kernel yet.", "define your kernel with @triton.jit, then pass it: "
                     "check(my_kernel).")
    function = _jit_function(kernel)
    try:
        lines, first = inspect.getsourcelines(function)
    except (OSError, TypeError):
        raise NotYet("the check cannot read your kernel's source.", "define the kernel in a notebook cell or a "
                     "file with `def`, then pass it: check(my_kernel).") from None
    text = textwrap.dedent("".join(lines))
    definition = next(node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef))
    before = definition.lineno - 1                                   # decorators and comments above `def`
    source = "".join(text.splitlines(keepends=True)[before:])
    learner = LearnerKernel(function.__name__, ast.parse(source).body[0], source, function.__code__.co_filename,
                            first + before)
    _require_parameters(learner, parameters)
    return learner


def _jit_function(kernel):
    """The Python function inside a @triton.jit kernel (compiled or interpreted); NotYet for anything else."""
    try:
        from triton.runtime.interpreter import InterpretedFunction  # optional third-party: Linux wheels only
        from triton.runtime.jit import JITFunction
    except ImportError:
        raise NotYet("Triton is not installed here, so no kernel can run.",
                     "Triton has Linux wheels only: run this lesson on Linux (or WSL 2).") from None
    if isinstance(kernel, JITFunction | InterpretedFunction):
        return kernel.fn
    what = "a plain Python function" if inspect.isfunction(kernel) else repr(kernel)[:60]
    raise NotYet(f"you passed {what}, not a @triton.jit kernel.",
                 "the check expects a Triton kernel: write @triton.jit on the line above `def`, run the cell, "
                 "and pass the kernel itself: check(my_kernel).")


def _require_parameters(learner: LearnerKernel, parameters: str) -> None:
    """NotYet unless the kernel takes as many parameters as `parameters` names, the last a tl.constexpr."""
    names = [name.strip() for name in parameters.strip("()").split(",")]
    arguments = learner.definition.args.args
    if len(arguments) != len(names):
        found = ", ".join(argument.arg for argument in arguments)
        raise NotYet(f"your kernel takes ({found}); the check launches it with {parameters}.",
                     "keep the signature the exercise gives you.")
    annotation = arguments[-1].annotation
    if not (isinstance(annotation, ast.Attribute) and annotation.attr == "constexpr"):
        last = arguments[-1].arg
        raise NotYet(f"`{last}` is not declared a compile-time constant, so tl.arange(0, {last}) cannot be built.",
                     f"write `{last}: tl.constexpr` in the signature, as the exercise gives it.")


# ------------------------------------------------------------------------------------------ what the source shows
def require_finished(learner: LearnerKernel) -> None:
    """NotYet if the kernel still holds a `...` placeholder or never calls tl.store."""
    for node in ast.walk(learner.definition):
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            raise NotYet(f"your kernel still has a `...` placeholder{learner.where(node.lineno)}",
                         "replace each `...` with your code, then run the cell again.")
    if not any(_memory_call(node) == "store" for node in ast.walk(learner.definition)):
        raise NotYet("your kernel stores nothing yet: its output is never written.",
                     "finish the kernel: compute the values, then tl.store them with a mask.")


def require_masks(learner: LearnerKernel) -> None:
    """NotYet naming the first tl.load or tl.store without a mask: the last block would reach past the end."""
    for node in sorted(ast.walk(learner.definition), key=lambda node: getattr(node, "lineno", 0)):
        kind = _memory_call(node)
        if kind and not _has_mask(node, kind):
            verb = "read" if kind == "load" else "write"
            raise NotYet(f"your tl.{kind} has no mask{learner.where(node.lineno)}\n  Its lanes past the end "
                         f"would {verb} memory the tensor does not own: garbage on a GPU, a crash in the interpreter.",
                         f"pass mask= to every tl.load and tl.store: the lanes whose offset is inside the tensor "
                         f"(offsets < T), e.g. tl.{kind}(..., mask=mask).")


def _memory_call(node: ast.AST) -> str | None:
    """'load' or 'store' for a call of tl.load / tl.store (any spelling ending in .load / .store), else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("load", "store"):
        return node.func.attr
    return None


def _has_mask(call: ast.Call, kind: str) -> bool:
    """Whether a tl.load(pointer, mask, ...) / tl.store(pointer, value, mask, ...) call passes a mask (not None)."""
    position = 1 if kind == "load" else 2
    mask = next((keyword.value for keyword in call.keywords if keyword.arg == "mask"),
                call.args[position] if len(call.args) > position else None)
    return mask is not None and not (isinstance(mask, ast.Constant) and mask.value is None)


# ------------------------------------------------------------------------------------------ running it
def run_learner_kernel(learner: LearnerKernel, launches: list[Launch], imports: str) -> list[tuple]:
    """Every launch's args after running the learner's kernel on them, in one child process, through the
    interpreter. `imports`: the lines that give the kernel its names (triton, tl, the course's helpers).
    NotYet for a crash, a timeout, or an error in the learner's code (naming the learner's line)."""
    with tempfile.TemporaryDirectory(prefix="kernel-check-") as folder:
        job = Path(folder)
        (job / _KERNEL_FILE).write_text(_header(imports) + learner.source)
        torch.save({"kernel": learner.name, "launches": [(launch.programs, launch.args) for launch in launches]},
                   job / _LAUNCHES_FILE)
        finished = _run_child(job)
        if (job / _ERROR_FILE).exists():
            _report_learner_error(learner, launches, json.loads((job / _ERROR_FILE).read_text()), imports)
        if finished.returncode != 0 or not (job / _RESULTS_FILE).exists():
            last = (finished.stderr.strip().splitlines() or ["no message"])[-1]
            raise NotYet(f"the check could not run your kernel: {last}", "run the cell again; if this persists, "
                         "restart the notebook's kernel.")
        return torch.load(job / _RESULTS_FILE)


def _header(imports: str) -> str:
    """What the child's kernel file holds above the learner's `def`: the imports, then the decorator."""
    return f"{imports.strip()}\n\n\n@triton.jit\n"


def _imported_names(imports: str) -> list[str]:
    """The names import lines define: "import triton.language as tl" -> ["tl"]."""
    return [alias.asname or alias.name for node in ast.parse(imports).body for alias in node.names]


def _run_child(job: Path) -> subprocess.CompletedProcess:
    """`python -m lessons.kernel_sandbox job` with the interpreter on; NotYet for a crash or a timeout."""
    environment = {**os.environ, "TRITON_INTERPRET": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    try:
        finished = subprocess.run([sys.executable, "-m", "lessons.kernel_sandbox", str(job)], env=environment,
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise NotYet(f"your kernel did not finish within {TIMEOUT_S:g} s.",
                     "does a loop never end? A kernel's loops need a fixed count, e.g. range(tl.cdiv(T, BLOCK_T)).") \
            from None
    if finished.returncode < 0:
        name = signal.Signals(-finished.returncode).name if -finished.returncode in signal.valid_signals() else ""
        raise NotYet(OUT_OF_BOUNDS.format(signal=f" with {name}" if name else ""),
                     "a lane may touch memory only where its mask is True, and the mask must be False for every "
                     "offset outside the tensor: mask = offsets < T.")
    return finished


def _report_learner_error(learner: LearnerKernel, launches: list[Launch], error: dict, imports: str) -> None:
    """Raise NotYet for an error the child caught, naming the case and the learner's line."""
    case = f"for {launches[error['case']].label}, " if error["case"] is not None else ""
    where = learner.where(error["line"] - _header(imports).count("\n")) if error["line"] else ""
    hint = "fix that line: the check runs your kernel as written."
    if error["type"] == "NameError":
        hint = (f"a kernel checked here sees only {', '.join(_imported_names(imports))} and its own variables: "
                "write any other value inside the kernel.")
    raise NotYet(f"{case}your kernel raised {error['type']}: {error['message']}{where}", hint)


# ------------------------------------------------------------------------------------------ the child
def main(folder: str) -> int:
    """In the child: run the kernel in `folder` on its launches; save their args, or the first error."""
    job = Path(folder)
    spec = torch.load(job / _LAUNCHES_FILE)
    try:
        kernel = getattr(_import_file(job / _KERNEL_FILE), spec["kernel"])
    except Exception as error:  # the learner's error, sent back in words for the parent to report
        return _save_error(job, None, error)
    for case, (programs, args) in enumerate(spec["launches"]):
        try:
            kernel[(programs,)](*args)
        except Exception as error:  # as above
            return _save_error(job, case, error)
    torch.save([args for _, args in spec["launches"]], job / _RESULTS_FILE)
    return 0


def _save_error(job: Path, case: int | None, error: Exception) -> int:
    """Write the learner's error (the case it happened in, its type, message and line) for the parent."""
    (job / _ERROR_FILE).write_text(json.dumps({"case": case, **_describe(error, str(job / _KERNEL_FILE))}))
    return 0


def _import_file(path: Path):
    """The module defined by the Python file at `path`."""
    spec = importlib.util.spec_from_file_location("learner_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _describe(error: BaseException, filename: str) -> dict:
    """The innermost cause's type and message, and the deepest line of `filename` in the chain (or None).
    The interpreter wraps a kernel's error in InterpreterError; the learner's line is in the cause."""
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    lines = [frame.lineno for link in chain for frame in traceback.extract_tb(link.__traceback__)
             if frame.filename == filename]
    return {"type": type(chain[-1]).__name__, "message": str(chain[-1]), "line": lines[-1] if lines else None}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
