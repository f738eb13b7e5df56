"""BG/NBD on the CDNOW sample, the data going in through Kasatka's own purchase import.

The fixture `tests/fixtures/cdnow_sample.csv` is the raw transaction log of the CDNOW
sample of Fader, Hardie & Lee (2005): 2,357 customers who first bought from CDNOW in the
first quarter of 1997, with every purchase up to 1998-06-30 (6,919 rows). It was derived
once from `lifetimes/datasets/CDNOW_sample.txt` inside the wheel
`Lifetimes-0.11.3-py3-none-any.whl` from PyPI (`pip download lifetimes==0.11.3 --no-deps`;
wheel sha256 261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8, file sha256
6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a). That file is
whitespace-separated: the master customer id, the sample's customer id (1-2357), the date
(YYYYMMDD), the number of CDs and the dollar value. Kept, one CSV row per source row in the
same order: the sample's customer id as `customer`, the date as ISO `date`, the dollar
value as `amount`; the master id and the CD count are dropped (fixture sha256
638293526f46415dcecd1620ad1403c370507c09ef4de84e161c684028522e5e). The (x, t_x, T) it gives
at 1997-09-30 equal, customer by customer, the wheel's `cdnow_customers_summary.csv`.

The paper's time convention: weeks at day precision, T from each customer's first purchase
to the end of the 39-week calibration period (1997-09-30), repeat purchases counted per
distinct day. The paper's estimates on this sample: r = 0.243, α = 4.414, a = 0.793,
b = 2.426, LL = −9582.4; a customer with x = 2, t_x = 30.43, T = 38.86 is expected to make
1.226 purchases in the next 39 weeks.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from kasatka.insights import bgnbd
from kasatka.insights.lapse import DAYS_PER_WEEK, load_history
from kasatka.sales.imports import import_purchases
from kasatka.sales.models import Purchase

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "cdnow_sample.csv"
CALIBRATION_END = date(1997, 9, 30)
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture
def cdnow(shop):
    result = import_purchases(shop, FIXTURE, recompute_lifecycle=False)
    assert (result.imported, result.bad_rows, result.contacts_created) == (6919, 0, 2357)
    assert Purchase.objects.filter(business=shop).count() == 6919
    return shop


def _calibration_summary(shop) -> tuple[bgnbd.Summary, np.ndarray]:
    """(x, t_x, T) from the Purchase table, built as lapse scoring builds it, cut at the
    calibration end."""
    end = datetime.combine(CALIBRATION_END, datetime.max.time(), tzinfo=shop.zone)
    history = load_history(shop, end)
    ids, summary = bgnbd.summarise(
        history.contact, history.day, CALIBRATION_END.toordinal(), DAYS_PER_WEEK
    )
    return summary, ids


@pytest.mark.slow
def test_cdnow_imported_fit_matches_the_published_parameters(cdnow):
    summary, ids = _calibration_summary(cdnow)
    assert len(summary) == 2357
    assert summary.x.sum() == 2457  # repeat purchase days in the 39 weeks
    # Customer 1 bought on 1997-01-01, 01-18 and 08-02 within the calibration period.
    customer_1 = Purchase.objects.filter(business=cdnow, note="import: customer 1").first()
    i = int(np.flatnonzero(ids == customer_1.contact_id)[0])
    assert (summary.x[i], round(summary.t_x[i], 2), round(summary.T[i], 2)) == (2, 30.43, 38.86)

    model = bgnbd.fit(summary)

    for name, published in PUBLISHED.items():
        assert getattr(model, name) == pytest.approx(published, rel=0.02), name
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.5)
    # The paper's worked example, from the fitted parameters.
    assert model.conditional_expected_number_of_purchases_up_to_time(
        39, 2, 30.43, 38.86
    ) == pytest.approx(1.226, abs=0.002)
