"""The words of Vietnamese public administration the simulator writes with.

Document types and their notation abbreviations follow Decree 30/2020/NĐ-CP (công tác văn thư, Annex III);
their numeric codes are the order of its list of 29 administrative document types, which is what the edXML
``TypeDetail`` uses (18 Công văn, 19 Công điện). Agency abbreviations are the ones printed on real
notations (``UBND``, ``VPCP``, ``BTC``...). Procedure names are real procedure names of the national procedure
database; their six-digit numbers here are ILLUSTRATIVE (right shape, not looked up), as are the sector codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bus.events import Priority


@dataclass(frozen=True, slots=True)
class DocumentType:
    """One administrative document type (thể loại văn bản hành chính)."""

    code: str
    name: str
    abbreviation: str | None
    """Abbreviation in the notation (``QĐ`` in ``45/QĐ-UBND``); None for Công văn (``123/UBND-VP``)."""
    subjects: tuple[str, ...]
    """Templates of the summary (trích yếu); ``{topic}``, ``{year}`` and ``{hazard}`` are filled in."""
    weights: tuple[float, float, float]
    """How often each kind of sender issues it: (People's Committee, department, ministry)."""
    priority: Priority = Priority.NORMAL
    steering: bool = False


_CV: Final = ("V/v {action} {topic}",)

DOCUMENT_TYPES: Final[tuple[DocumentType, ...]] = (
    DocumentType("18", "Công văn", None, _CV, (52, 58, 55)),
    DocumentType(
        "2",
        "Quyết định",
        "QĐ",
        (
            "Quyết định về việc phê duyệt Kế hoạch {topic} năm {year}",
            "Quyết định công bố Danh mục thủ tục hành chính được chuẩn hóa thuộc phạm vi quản lý",
            "Quyết định về việc kiện toàn Ban Chỉ đạo {topic}",
            "Quyết định thành lập Tổ công tác {topic}",
        ),
        (16, 8, 12),
    ),
    DocumentType("10", "Kế hoạch", "KH", ("Kế hoạch triển khai {topic} năm {year}",), (6, 6, 4)),
    DocumentType(
        "14",
        "Báo cáo",
        "BC",
        (
            "Báo cáo kết quả thực hiện {topic}",
            "Báo cáo tình hình, kết quả {topic} năm {year}",
        ),
        (6, 10, 6),
    ),
    DocumentType("7", "Thông báo", "TB", ("Thông báo kết luận cuộc họp về {topic}",), (6, 4, 6)),
    DocumentType("16", "Tờ trình", "TTr", ("Tờ trình đề nghị phê duyệt Đề án {topic}",), (1, 6, 3)),
    DocumentType(
        "23",
        "Giấy mời",
        "GM",
        (
            "Mời dự họp về {topic}",
            "Mời dự Hội nghị trực tuyến về {topic}",
        ),
        (5, 5, 5),
    ),
    DocumentType("8", "Hướng dẫn", "HD", ("Hướng dẫn thực hiện {topic}",), (0.5, 2, 3)),
    DocumentType(
        "19",
        "Công điện",
        "CĐ",
        (
            "Công điện về việc chủ động ứng phó với {hazard}",
            "Công điện về việc tập trung khắc phục hậu quả {hazard}",
        ),
        (1.5, 0, 1.5),
        Priority.FLASH,
        True,
    ),
    DocumentType(
        "3", "Chỉ thị", "CT", ("Chỉ thị về việc tăng cường {topic}",), (1, 0, 0.5), Priority.NORMAL, True
    ),
    DocumentType("15", "Biên bản", "BB", ("Biên bản làm việc về {topic}",), (0.5, 1, 0.5)),
    DocumentType("27", "Phiếu chuyển", "PC", ("Phiếu chuyển đơn liên quan đến {topic}",), (0.5, 0.5, 1)),
)

CONG_VAN_ACTIONS: Final = (
    "triển khai thực hiện",
    "đôn đốc thực hiện",
    "góp ý dự thảo Kế hoạch",
    "tăng cường",
    "báo cáo tình hình",
    "hướng dẫn thực hiện",
    "đề nghị phối hợp thực hiện",
    "cung cấp thông tin, số liệu về",
    "rà soát, đánh giá",
    "tiếp tục đẩy mạnh",
)

TOPICS: Final = (
    "chuyển đổi số",
    "cải cách hành chính",
    "Đề án 06/CP",
    "dịch vụ công trực tuyến toàn trình",
    "số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
    "phòng, chống thiên tai và tìm kiếm cứu nạn",
    "phòng cháy, chữa cháy và cứu nạn, cứu hộ",
    "bảo đảm an toàn thông tin mạng",
    "giải ngân vốn đầu tư công",
    "thu ngân sách nhà nước",
    "sắp xếp tổ chức bộ máy",
    "vận hành chính quyền địa phương hai cấp",
    "phòng, chống tham nhũng, tiêu cực",
    "bảo đảm trật tự, an toàn giao thông",
    "xây dựng nông thôn mới",
    "Chương trình mục tiêu quốc gia giảm nghèo bền vững",
    "công tác thi đua, khen thưởng",
    "quản lý, sử dụng tài sản công",
    "kiểm soát thủ tục hành chính",
    "chế độ báo cáo định kỳ",
    "phát triển kinh tế - xã hội",
    "xây dựng cơ sở dữ liệu đất đai",
)

HAZARDS: Final = (
    "áp thấp nhiệt đới",
    "bão và mưa lớn",
    "mưa lũ, sạt lở đất",
    "nắng nóng, hạn hán, xâm nhập mặn",
    "dịch tả lợn châu Phi",
    "triều cường",
)

# --- agencies -----------------------------------------------------------------------------------------------

MINISTRY_ABBREVIATIONS: Final = {
    "G01": "BCA",
    "G02": "BCT",
    "G03": "BGDĐT",
    "G06": "BKHCN",
    "G08": "BNG",
    "G09": "BNV",
    "G10": "BNNMT",
    "G11": "BQP",
    "G12": "BTC",
    "G15": "BTP",
    "G16": "BVHTTDL",
    "G17": "BXD",
    "G18": "BYT",
    "G19": "NHNN",
    "G20": "TTCP",
    "G21": "BDTTG",
    "G22": "VPCP",
}
DEPARTMENT_ABBREVIATIONS: Final = {
    "01": "VPUBND",
    "02": "SNV",
    "03": "STP",
    "04": "STC",
    "05": "SYT",
    "06": "SKHCN",
    "07": "SNNMT",
    "08": "SXD",
}
COMMITTEE_ABBREVIATION: Final = "UBND"

DRAFTING_UNITS: Final = {
    "province_committee": ("VP", "KT", "KGVX", "NC", "TH", "HCTC", "TCD"),
    "department": ("VP", "KHTC", "TTr", "QLCL", "PC", "TCCB", "CNTT"),
    "ministry": ("VP", "KHTC", "PC", "TCCB", "HTQT", "CNTT", "TTr"),
    "G22": ("KSTT", "TH", "KTTH", "NC", "KGVX", "TCCV", "TTĐT", "ĐMDN", "CN", "NN", "QHĐP", "PL"),
}

SIGNER_POSITIONS: Final = {
    "province_committee": (("Chủ tịch", 1, 0.25), ("Phó Chủ tịch", 3, 0.6), ("Chánh Văn phòng", 1, 0.15)),
    "department": (("Giám đốc", 1, 0.35), ("Phó Giám đốc", 3, 0.55), ("Chánh Văn phòng", 1, 0.1)),
    "ministry": (("Bộ trưởng", 1, 0.15), ("Thứ trưởng", 4, 0.75), ("Chánh Văn phòng", 1, 0.1)),
    "G22": (("Bộ trưởng, Chủ nhiệm", 1, 0.2), ("Phó Chủ nhiệm", 4, 0.7), ("Vụ trưởng", 3, 0.1)),
    "G19": (("Thống đốc", 1, 0.15), ("Phó Thống đốc", 4, 0.75), ("Chánh Văn phòng", 1, 0.1)),
    "G20": (
        ("Tổng Thanh tra Chính phủ", 1, 0.15),
        ("Phó Tổng Thanh tra", 4, 0.75),
        ("Chánh Văn phòng", 1, 0.1),
    ),
}
"""By kind of agency (or level-1 code): (position, how many people hold it, share of signatures)."""

SIGNING_AUTHORITY: Final = {
    "Chủ tịch": "ON_BEHALF",  # TM. ỦY BAN NHÂN DÂN / CHỦ TỊCH: the chair signs for the collective committee
    "Phó Chủ tịch": "DEPUTY",  # TM. ỦY BAN NHÂN DÂN / KT. CHỦ TỊCH: the immediate authority is KT.
    "Chánh Văn phòng": "BY_ORDER",  # TL. (thừa lệnh) the head of the agency
    "Giám đốc": "DIRECT",
    "Phó Giám đốc": "DEPUTY",
    "Bộ trưởng": "DIRECT",
    "Thứ trưởng": "DEPUTY",
    "Bộ trưởng, Chủ nhiệm": "DIRECT",
    "Phó Chủ nhiệm": "DEPUTY",
    "Vụ trưởng": "BY_AUTHORISATION",  # TUQ. BỘ TRƯỞNG, CHỦ NHIỆM: a unit head with a standing mandate
    "Thống đốc": "DIRECT",
    "Phó Thống đốc": "DEPUTY",
    "Tổng Thanh tra Chính phủ": "DIRECT",
    "Phó Tổng Thanh tra": "DEPUTY",
}
"""The signing authority (DocumentSent v2 ``signing_authority``; Decree 30/2020/NĐ-CP, Appendix I) of each
position of ``SIGNER_POSITIONS``: the prefix a signature by that position usually carries. Illustrative: in
life it depends on the document (a deputy may sign a document of the collective TM.; an office head TUQ.)."""

SURNAMES: Final = (
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9.5),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Huỳnh", 4),
    ("Phan", 4.5),
    ("Vũ", 4),
    ("Võ", 3.5),
    ("Đặng", 2),
    ("Bùi", 2),
    ("Đỗ", 1.5),
    ("Hồ", 1.5),
    ("Ngô", 1.3),
    ("Dương", 1),
    ("Lý", 0.5),
    ("Đinh", 1),
    ("Trương", 1),
    ("Lương", 0.5),
    ("Hà", 0.5),
)
MIDDLE_NAMES: Final = {
    "m": ("Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Xuân", "Công", "Ngọc", "Hoàng", "Anh", "Tiến"),
    "f": ("Thị", "Thị Thanh", "Thị Minh", "Ngọc", "Thu", "Thị Kim", "Thị Hồng", "Phương"),
}
GIVEN_NAMES: Final = {
    "m": (
        "Hùng",
        "Dũng",
        "Nam",
        "Bình",
        "Phước",
        "Tuấn",
        "Hải",
        "Long",
        "Sơn",
        "Trung",
        "Khánh",
        "Phong",
        "Quang",
        "Thắng",
        "Cường",
        "Hòa",
        "Thành",
        "Tâm",
        "Vinh",
        "Đạt",
        "Lực",
        "Mừng",
        "Hiếu",
        "Toàn",
    ),
    "f": ("Lan", "Hương", "Thúy", "Mai", "Thảo", "Hà", "Hạnh", "Nga", "Hằng", "Huyền", "Dung", "Loan"),
}

# --- document status feedback -------------------------------------------------------------------------------

REJECTION_REASONS: Final = (
    "Văn bản gửi không đúng thẩm quyền giải quyết, đề nghị chuyển đúng nơi nhận",
    "Văn bản điện tử không có chữ ký số hợp lệ",
    "Tệp đính kèm bị lỗi, không mở được",
    "Văn bản gửi trùng, đã tiếp nhận trước đó",
)
REVOCATION_REASONS: Final = (
    "Văn bản ban hành chưa đúng thẩm quyền",
    "Văn bản có sai sót về nội dung, sẽ ban hành văn bản thay thế",
    "Gửi nhầm nơi nhận",
    "Văn bản gửi trùng",
)
"""Why a sender revokes a document it sent (``business_reason`` of a REVOKE), most common first."""
UPDATE_REASONS: Final = (
    "Đính chính sai sót về thể thức văn bản",
    "Bổ sung tệp đính kèm",
    "Cập nhật nơi nhận",
)
"""Why a sender sends an update of a document (``business_reason`` of an UPDATE)."""
STATUS_DESCRIPTIONS: Final = {
    "ARRIVED": "Văn bản đã đến hệ thống quản lý văn bản của cơ quan nhận",
    "ACCEPTED": "Đã tiếp nhận, vào sổ văn bản đến",
    "ASSIGNED": "Lãnh đạo đã phân công đơn vị chủ trì xử lý",
    "PROCESSING": "Đơn vị chủ trì đang xử lý",
    "FINISHED": "Đã hoàn thành xử lý văn bản",
    "RECALLED": "Cơ quan gửi đề nghị lấy lại văn bản",
    "RECALL_ACCEPTED": "Đồng ý cho lấy lại văn bản",
    "RECALL_REFUSED": "Không đồng ý lấy lại: văn bản đã được xử lý",
}
