"""A leaderboard board made by hand, its aggregates computed by hand (tests of reports and plots)."""

from brainbench.results.board import Board, Cell

NODES = {"X": ["x.one", "x.two"], "Y": ["y.three"], "average": ["X", "Y"]}


def hand_board(missing="incomplete"):
    """a: X = (0.6 + 0.4) / 2 = 0.5, Y = 0.8, average = 0.65; b: x.two failed, so X and the average are missing
    under the incomplete rule (partial: X = 0.5 (1 of 2), average (0.5 + 0.9) / 2 = 0.7); c: nothing valued."""
    cells = [
        Cell("a", "x.one", "ok", 0.6, 0.3, 0.6, 0.5, 0.52, 0.7, "l1", 1),
        Cell("a", "x.two", "ok", 0.4, 0.2, 0.4, 0.5, layer="l2", result_id=2),
        Cell("a", "y.three", "ok", 0.8, 0.4, 0.8, 0.5, layer="l3", result_id=3),
        Cell("b", "x.one", "stale", 0.5, 0.25, 0.5, 0.5, layer="l1", result_id=4, reason="benchmark version 1 -> 2"),
        Cell("b", "x.two", "failed", failure_id=7, reason="RuntimeError: boom"),
        Cell("b", "y.three", "ok", 0.9, 0.45, 0.9, 0.5, layer="l3", result_id=5),
        Cell("c", "x.one", "untrusted", None, 0.1, None, 0.05, layer="l1", result_id=6, reason="ceiling too low"),
    ]
    return Board("hand", "A board made by hand.", "auto", ["a", "b", "c"], ["x.one", "x.two", "y.three"], dict(NODES),
                 "average", missing, {(c.model, c.benchmark): c for c in cells}, ["a board note"])
