"""One AltDSS/OpenDSS engine per circuit: compile a ``Master.dss`` (with its redirects) in a context of its own.

The engine is DSS C-API through ``dss-python`` (PyPI wheels, nothing downloaded at run time). Each
:func:`compile_circuit` call opens a new engine context (``DSS.NewContext()``), so two circuits (the
feeder before and after a phase change) never share state, and the process's working directory is
never changed (``AllowChangeDir = False``; redirects resolve against the file that names them).
"""

from __future__ import annotations

from pathlib import Path

# the upstream IEEE 8500 run script sets 20 before Solve; harmless for smaller feeders
DEFAULT_MAX_ITERATIONS = 20
# control rounds per step (OpenDSS's default is 10): IEEE 8500's regulators and switched capacitors need more
# once large laterals are moved (its first hour exceeds 10 after three moves, settles in 1 round at 30);
# a step that still exceeds it is reported as not converged
DEFAULT_MAX_CONTROL_ITERATIONS = 50


class CircuitError(ValueError):
    """A circuit that cannot be compiled or solved as asked (one line, with the file)."""


def command(ctx, text: str) -> str:
    """Run one DSS command in ``ctx``; raise :class:`CircuitError` with the engine's words on failure."""
    try:
        ctx.Text.Command = text
    except Exception as exc:  # dss-python raises DSSException (a subclass of Exception)
        raise CircuitError(f"OpenDSS refused {text!r}: {exc}") from None
    return ctx.Text.Result


def compile_circuit(master: str | Path, shape_file: str | Path | None = None, max_iterations: int = DEFAULT_MAX_ITERATIONS):
    """A new engine context holding ``master`` compiled.

    ``shape_file``: a DSS file defining one load shape (e.g. IEEE 123's ``Loadshapes/LoadShape1.DSS``),
    given as the ``Yearly`` shape of every load that has neither a yearly nor a daily shape, as the
    upstream ``Run_YearlySim.dss`` does with ``batchedit load..* yearly=...``.
    """
    from dss import DSS

    master = Path(master).resolve()
    if not master.is_file():
        raise CircuitError(f"{master}: no such OpenDSS file")
    ctx = DSS.NewContext()
    ctx.AllowChangeDir = False
    ctx.AllowForms = False
    command(ctx, f'Compile "{master}"')
    if ctx.ActiveCircuit is None or ctx.ActiveCircuit.NumBuses == 0:
        raise CircuitError(f"{master}: compiled no circuit")
    command(ctx, f"Set Maxiterations={int(max_iterations)}")
    command(ctx, f"Set MaxControlIter={DEFAULT_MAX_CONTROL_ITERATIONS}")
    if shape_file is not None:
        attach_shape(ctx, shape_file)
    return ctx


def attach_shape(ctx, shape_file: str | Path) -> str:
    """Define the load shape of ``shape_file`` and give it to every load without one; return its name."""
    path = Path(shape_file).resolve()
    if not path.is_file():
        raise CircuitError(f"{path}: no such load shape file")
    shapes = ctx.ActiveCircuit.LoadShapes
    before = set(n.lower() for n in shapes.AllNames)
    command(ctx, f'Redirect "{path}"')
    added = [n for n in shapes.AllNames if n.lower() not in before]
    if len(added) != 1:
        raise CircuitError(f"{path}: defines {len(added)} new load shape(s), expected one")
    loads = ctx.ActiveCircuit.Loads
    for _ in each(loads):
        if not loads.Yearly and not loads.daily:
            loads.Yearly = added[0]
    return added[0]


def each(collection):
    """Make each element of an engine collection (``Loads``, ``PDElements``, ...) active in turn.

    The engine's iteration is ``First``/``Next``, each returning 0 past the end; the active element
    is then read through the collection or ``ActiveCktElement``. Yields the element's 1-based index.
    """
    i = collection.First
    while i:
        yield i
        i = collection.Next
