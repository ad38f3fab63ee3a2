"""The benchmarks' own workload: varied, valid ``DossierSynced`` events, reproducible from a seed.

The serde, publish, signing and ingress parts measure on the same events (the rebuild, scale-out and e2e
parts use the simulated nation, :mod:`producers.simulate`).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bus.events import DossierSynced, EventMeta

AGENCIES = (
    ("000.00.00.H29", "79", "Ủy ban nhân dân Thành phố Hồ Chí Minh"),
    ("000.00.00.H24", "01", "Ủy ban nhân dân thành phố Hà Nội"),
    ("000.00.00.H14", "04", "Ủy ban nhân dân tỉnh Cao Bằng"),
)
PROCEDURES = (
    ("1.000494", "HT", "Hộ tịch", "Đăng ký khai sinh có yếu tố nước ngoài"),
    (
        "1.001193",
        "DD",
        "Đất đai",
        "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
    ),
    ("2.000488", "LLTP", "Lý lịch tư pháp", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"),
)


def make_dossiers(count: int, seed: int = 20250701) -> list[DossierSynced]:
    """``count`` valid, varied dossier snapshots (finished and in progress), reproducible from ``seed``."""
    rng = random.Random(seed)
    return [_dossier(n, rng) for n in range(count)]


def _dossier(n: int, rng: random.Random) -> DossierSynced:
    agency, province, agency_name = rng.choice(AGENCIES)
    number, sector, sector_name, name = rng.choice(PROCEDURES)
    received = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 90))
    finished = rng.random() < 0.6
    return DossierSynced.model_validate(
        {
            "meta": EventMeta.new(agency, occurred_at=received + timedelta(hours=rng.randrange(1, 200))),
            "dossier_code": f"{agency}-250701-{n % 1_000_000:06d}",
            "procedure_code": f"{number}.000.00.00.{agency[-3:]}",
            "procedure_name": name,
            "sector_code": sector,
            "sector_name": sector_name,
            "processing_agency": {"code": agency, "name": agency_name},
            "province_code": province,
            "applicant_type": rng.choice(["CITIZEN", "BUSINESS"]),
            "channel": rng.choice(["COUNTER", "ONLINE", "POSTAL"]),
            "online_level": rng.choice(["FULL", "PARTIAL", "NONE"]),
            "status": "RESOLVED" if finished else rng.choice(["REGISTERED", "ACCEPTED", "PROCESSING"]),
            "received_at": received,
            "due_at": received + timedelta(days=rng.randrange(1, 30)),
            "finished_at": received + timedelta(days=rng.randrange(0, 20)) if finished else None,
            "returned_at": None,
            "fees_paid_online": rng.random() < 0.5,
            "digitised": rng.random() < 0.7,
            "version": rng.randrange(1, 12),
            "result_digitised": rng.choice([None, True, False]),
        }
    )
