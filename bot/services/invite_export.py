"""Bulk invitations as a spreadsheet: one row per client with the personal link and its QR code,
for the bank's SMS or in-branch channel (`rmbot invite --manager RM001 --unbound --xlsx FILE`,
and the console's export). CPU work: callers run `write_xlsx` in a thread."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.labels import local_time
from bot.services.invites import InviteRow

HEADERS = {
    "zh": ("客户号", "姓名", "手机", "语言", "专属链接", "有效期至", "二维码"),
    "en": ("Client no.", "Name", "Phone", "Language", "Personal link", "Valid until", "QR code"),
}
QR_PIXELS = 96  # the image's side in the sheet (the row is made tall enough)


def _qr_png(link: str) -> io.BytesIO:
    import qrcode

    qr = qrcode.QRCode(border=2, box_size=3, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(link)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    buf.seek(0)
    return buf


def write_xlsx(rows: Sequence[InviteRow], target: Path | io.BytesIO, *, language: str = "zh",
               qr: bool = True, tz: ZoneInfo | None = None) -> None:
    """The workbook: a header row, then each client's link (clickable) and QR code; expiry times in
    the bank's zone `tz`, labelled (UTC when none is given)."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image

    wb = Workbook()
    ws = wb.active
    ws.title = "invites"
    ws.append(HEADERS["en" if language == "en" else "zh"])
    for col, width in zip("ABCDEFG", (12, 16, 16, 8, 52, 22, 16), strict=True):
        ws.column_dimensions[col].width = width
    for i, row in enumerate(rows, start=2):
        ws.append([row.client_no, row.name, row.phone, row.language, row.link,
                   local_time(row.expires_at, tz, language, fmt="%Y-%m-%d %H:%M") if tz is not None
                   else row.expires_at.strftime("%Y-%m-%d %H:%M UTC"), ""])
        ws.cell(row=i, column=5).hyperlink = row.link
        if qr:
            image = Image(_qr_png(row.link))
            image.width = image.height = QR_PIXELS
            ws.add_image(image, f"G{i}")
            ws.row_dimensions[i].height = QR_PIXELS * 0.75 + 4
    ws.freeze_panes = "A2"
    wb.save(target)
