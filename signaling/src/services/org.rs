//! The organisation tree's import format: CSV with the header
//! `id,parent,name,kind` (kinds also in Chinese), quotes and a UTF-8 BOM
//! (Excel) allowed. Checking the tree itself (duplicates, unknown parents)
//! is the store's, in one transaction.

use crate::store::{OrgKind, OrgUnit};

/// Parses the organisation CSV; errors name the line.
pub fn parse_csv(text: &str) -> Result<Vec<OrgUnit>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let header: Vec<String> =
        split_csv(header.trim_start_matches('\u{feff}')).iter().map(|h| h.trim().to_lowercase()).collect();
    if header != ["id", "parent", "name", "kind"] {
        return Err(format!("the first line must be id,parent,name,kind (found {})", header.join(",")));
    }
    let mut units = Vec::new();
    for (i, line) in lines {
        let f = split_csv(line);
        if f.len() != 4 {
            return Err(format!("line {}: 4 columns expected, found {}", i + 1, f.len()));
        }
        let kind = OrgKind::parse(&f[3]).ok_or_else(|| format!("line {}: unknown kind {:?}", i + 1, f[3]))?;
        if f.iter().any(|cell| !super::text::is_plain(cell)) {
            return Err(format!("line {}: control characters are not allowed", i + 1));
        }
        let parent = Some(f[1].trim().to_string()).filter(|p| !p.is_empty());
        units.push(OrgUnit { id: f[0].trim().into(), parent, name: f[2].trim().into(), kind });
    }
    if units.len() > 10_000 {
        return Err("more than 10 000 units in one import".into());
    }
    Ok(units)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("non-empty").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_csv_parses_quotes_bom_and_chinese_kinds() {
        let csv = "\u{feff}id,parent,name,kind\ncounty,,某某县,县\nt1,county,\"城关镇, 镇政府\",乡镇\n\nv1,t1,城关镇会议室,会场\n";
        let units = parse_csv(csv).expect("parses");
        assert_eq!(units.len(), 3);
        assert_eq!(units[1].name, "城关镇, 镇政府");
        assert_eq!(units[2].kind, OrgKind::Venue);
        assert_eq!(units[0].parent, None);
    }

    #[test]
    fn org_csv_errors_name_the_line() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("a,b\n").expect_err("header").contains("id,parent,name,kind"));
        assert!(parse_csv("id,parent,name,kind\nx,,y\n").expect_err("columns").contains("line 2"));
        assert!(parse_csv("id,parent,name,kind\nx,,y,castle\n").expect_err("kind").contains("castle"));
    }
}
