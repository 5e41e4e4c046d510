//! The little of WebDAV's XML that listing needs: the `PROPFIND` request body, and the
//! `207 Multi-Status` answer read into entries (href, folder or not). Namespace prefixes differ by
//! server (`d:`, `D:`, `ns0:`, none), so elements are matched by local name.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Asks only for what listing needs.
pub const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/></d:prop></d:propfind>"#;

/// One `<response>` of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As the server wrote it: an absolute path or a full URL, percent-encoded.
    pub href: String,
    pub collection: bool,
}

/// A listing's body larger than this is refused before it is parsed (100 000 entries of the
/// longest names a server writes fit in it).
pub const MAX_BODY: u64 = 32 << 20;

/// A listing with more entries than this is refused (a folder of backups holds hundreds, not
/// millions).
const MAX_ENTRIES: usize = 100_000;

/// Parses a `207 Multi-Status` body.
///
/// # Errors
/// A message when the body is not well-formed XML or has no responses where some were due.
pub fn parse_multistatus(xml: &str) -> Result<Vec<Entry>, String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut in_href = false;
    let mut current: Option<Entry> = None;
    let mut saw_multistatus = false;
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("the server's listing is not valid XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "multistatus" => saw_multistatus = true,
                "response" => {
                    current = Some(Entry {
                        href: String::new(),
                        collection: false,
                    });
                }
                "href" => in_href = true,
                "collection" => {
                    if let Some(c) = current.as_mut() {
                        c.collection = true;
                    }
                }
                _ => {}
            },
            Ok(Event::Empty(e)) => {
                if e.local_name().as_ref() == "collection"
                    && let Some(c) = current.as_mut()
                {
                    c.collection = true;
                }
            }
            Ok(Event::Text(t)) if in_href => {
                if let Some(c) = current.as_mut() {
                    c.href.push_str(t.xml10_content().trim());
                }
            }
            Ok(Event::GeneralRef(r)) if in_href => {
                if let Some(c) = current.as_mut() {
                    c.href.push_str(&entity(&r.xml10_content()));
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "href" => in_href = false,
                "response" => {
                    if let Some(c) = current.take().filter(|c| !c.href.is_empty()) {
                        if out.len() == MAX_ENTRIES {
                            return Err(format!("the listing has more than {MAX_ENTRIES} entries"));
                        }
                        out.push(c);
                    }
                }
                _ => {}
            },
            Ok(_) => {}
        }
    }
    if current.is_some() {
        return Err("the server's listing was cut off".into());
    }
    if !saw_multistatus {
        return Err("the server's answer is not a WebDAV listing (no multistatus)".into());
    }
    Ok(out)
}

/// The text of one of XML's predefined or numeric entities.
fn entity(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        n => n
            .strip_prefix("#x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32)
            .map(String::from)
            .unwrap_or_default(),
    }
}

/// The decoded path of an href (a full URL or an absolute path).
fn href_path(href: &str) -> String {
    let path = match url::Url::parse(href) {
        Ok(u) => u.path().to_owned(),
        Err(_) => href.to_owned(),
    };
    percent_encoding::percent_decode_str(&path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `href` names something directly inside the folder at `folder_path` (encoded, as in a
/// URL), not the folder itself.
pub fn is_child(href: &str, folder_path: &str) -> bool {
    let folder = percent_encoding::percent_decode_str(folder_path).decode_utf8_lossy();
    let folder = folder.trim_end_matches('/');
    let path = href_path(href);
    let path = path.trim_end_matches('/');
    path.strip_prefix(folder)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The last path segment of an href, decoded.
pub fn last_segment(href: &str) -> Option<String> {
    let path = href_path(href);
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Nextcloud (Sabre) answers, prefix `d:`, with a folder and a file.
    const NEXTCLOUD: &str = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns">
 <d:response><d:href>/remote.php/dav/files/alice/HA%20backups/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/remote.php/dav/files/alice/HA%20backups/a%20b.tar.age</d:href>
  <d:propstat><d:prop><d:resourcetype/><d:getcontentlength>12</d:getcontentlength></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/remote.php/dav/files/alice/HA%20backups/x.tar.age.segments/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
  <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"#;

    #[test]
    fn a_nextcloud_listing_reads_into_entries() {
        let e = parse_multistatus(NEXTCLOUD).unwrap();
        assert_eq!(e.len(), 3);
        assert!(e[0].collection && !e[1].collection && e[2].collection);
        let folder = "/remote.php/dav/files/alice/HA%20backups/";
        assert!(!is_child(&e[0].href, folder));
        assert!(is_child(&e[1].href, folder));
        assert_eq!(last_segment(&e[1].href).unwrap(), "a b.tar.age");
        assert_eq!(last_segment(&e[2].href).unwrap(), "x.tar.age.segments");
    }

    #[test]
    fn full_url_hrefs_and_entities_and_other_prefixes() {
        let xml = r#"<ns0:multistatus xmlns:ns0="DAV:"><ns0:response>
<ns0:href>http://127.0.0.1:9010/dav/a&amp;b.json</ns0:href>
<ns0:propstat><ns0:prop><ns0:resourcetype></ns0:resourcetype></ns0:prop></ns0:propstat>
</ns0:response></ns0:multistatus>"#;
        let e = parse_multistatus(xml).unwrap();
        assert_eq!(e[0].href, "http://127.0.0.1:9010/dav/a&b.json");
        assert!(is_child(&e[0].href, "/dav/"));
        assert_eq!(last_segment(&e[0].href).unwrap(), "a&b.json");
    }

    #[test]
    fn what_is_not_a_listing_is_refused() {
        assert!(parse_multistatus("<html><body>login</body></html>").is_err());
        let cut = "<d:multistatus xmlns:d=\"DAV:\"><d:response><d:href>/a</d:href>";
        assert!(parse_multistatus(cut).unwrap_err().contains("cut off"));
        assert!(parse_multistatus("not xml <<<").is_err());
    }

    #[test]
    fn grandchildren_are_not_children() {
        assert!(!is_child("/dav/a/b", "/dav/"));
        assert!(!is_child("/davx/a", "/dav/"));
    }
}
