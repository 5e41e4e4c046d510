//! QR codes for the printed emergency kit: a phone scans the key instead of someone typing 74
//! characters. Drawn as inline SVG (no script, no outside resource), dark modules on white with
//! the quiet zone the standard asks for, at error-correction level M.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The QR code for `text` as an SVG element, or `None` when it does not fit in a QR code.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .min_dimensions(180, 180)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // The renderer writes an XML declaration first; inline SVG in HTML takes the element only,
    // with a role and a name for screen readers. The label is ours (fixed words and a
    // fingerprint), escaped all the same.
    let start = drawn.find("<svg")?;
    let label = askama::filters::escape(label, askama::filters::Html)
        .map(|s| s.to_string())
        .unwrap_or_default();
    Some(drawn[start..].replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"qr\""),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code's modules as rows of booleans (dark = true), for tests that read the code back.
    fn modules(text: &str) -> Option<(usize, Vec<bool>)> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Some((width, dark))
    }

    /// Draws the modules at 8 px each with a 4-module white border and decodes them.
    fn read_back(text: &str) -> String {
        let (width, dark) = modules(text).unwrap();
        let scale = 8;
        let side = (width + 8) * scale;
        let img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let inside = (4..width + 4).contains(&mx) && (4..width + 4).contains(&my);
            if inside && dark[(my - 4) * width + (mx - 4)] {
                0
            } else {
                255
            }
        });
        let mut img = img;
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn an_age_key_reads_back_from_its_code() {
        let key = crate::crypto::identity::KeyPair::generate().secret();
        assert_eq!(read_back(key.expose()), key.expose());
        let svg = svg(key.expose(), "age private key").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"age private key\""));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains(key.expose()), "the SVG is modules, not text");
    }

    #[test]
    fn labels_are_escaped() {
        let svg = svg("x", "<b>").unwrap();
        assert!(svg.contains("&#60;b&#62;") && !svg.contains("<b>"));
    }
}
