"""The HTML report is self-contained and holds the study's figures."""

import base64
import re

from lascopf_assets.lib.phase_balance.exact import tradeoff_curve
from lascopf_assets.lib.phase_balance.generator import generate_instance
from lascopf_assets.lib.phase_balance.report import write_report


def test_report_embeds_four_png_figures_and_the_changes(tmp_path):
    problem = generate_instance(10, 24 * 20, seed=1)
    curve = tradeoff_curve(problem, 3)
    path = write_report(tmp_path / "sub" / "report.html", problem, curve[2], curve)
    text = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4
    for b in images:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    for c in curve[2].changes:
        assert f"<td>{c.junction}</td><td>{c.from_phase}</td><td>{c.to_phase}</td>" in text
    assert "src=\"http" not in text and "<script" not in text
    assert f"{curve[2].imbalance:.6g}" in text
