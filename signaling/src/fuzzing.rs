//! The pure steps behind the HTTP exports, opened for the fuzz targets in
//! `fuzz/` (no API: the handlers are the API, and nothing else calls these).

use crate::services::attendance::Line;
use crate::store::RollCallRecord;

/// The cells of one attendance line, as both exports write them.
pub fn attendance_cells(line: &Line) -> [String; 8] {
    crate::http::attendance::cells(line)
}

/// The body of the attendance CSV export.
pub fn attendance_csv(lines: &[Line]) -> String {
    crate::http::attendance::csv(lines)
}

/// The body of the attendance XLSX export (the sheet, then the roll calls).
pub fn attendance_xlsx(
    title: &str,
    lines: &[Line],
    roll_calls: &[RollCallRecord],
) -> Result<Vec<u8>, String> {
    let roll = crate::http::attendance::roll_lines(roll_calls);
    crate::http::attendance::workbook(title, lines, &roll).map_err(|e| e.to_string())
}
