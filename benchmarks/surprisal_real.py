"""Surprisal with the real embedded SmolLM2 on the test fixture: right versus wrong explanations.

    .venv/bin/python benchmarks/surprisal_real.py
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from interp_fixtures import make_record
from autointerp.records import Explanation
from autointerp.scorers import SurprisalScorer
rec = make_record()
sc = SurprisalScorer()
for text in ["the word cat", "trains and railway stations", "pet cats"]:
    t = time.time()
    r = asyncio.run(sc.score(rec, Explanation(latent=rec.latent, text=text, explainer="x"), None))
    print(repr(text), round(r.metrics["auroc"], 3), round(time.time() - t, 1), "s")
