//! Copies: every copy on every destination, read from the manifests there (the truth, not
//! history), with its date, size, keys, verification and pin; and the actions on one copy — read
//! it back now, pin, unpin, delete (after a page that names exactly what would be lost).

use super::{At, Live, PageError, local, plain_segment};
use crate::destinations::manifest::made_at;
use crate::destinations::manifest::{self, Listed, Manifest};
use crate::destinations::{Destination, layout};
use crate::history::upkeep::CheckRow;
use crate::human;
use crate::jobs::Job;
use crate::jobs::TriggerError;
use crate::pipeline::delete::Deletion;
use crate::pipeline::vouch::{Records, Vouch};
use crate::web::frame::{Frame, Section, back_to, problem};
use crate::web::ingress::Ingress;
use crate::web::listings;
use crate::web::{AppState, Services};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// What can be done to one copy, named by the last segment of its path
/// (`/copies/{destination}/{copy}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyAction {
    /// Read it back now.
    Verify,
    /// Keep it from retention.
    Pin,
    /// Let retention have it again.
    Unpin,
    /// Delete it (after a page that names what would be lost).
    Delete,
}

impl CopyAction {
    const ALL: [Self; 4] = [Self::Verify, Self::Pin, Self::Unpin, Self::Delete];

    /// Its path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Pin => "pin",
            Self::Unpin => "unpin",
            Self::Delete => "delete",
        }
    }

    /// The action a path segment names, if any (an address with another is not found).
    pub fn parse(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.segment() == segment)
    }
}

/// One copy's row.
pub struct CopyLine {
    pub id: String,
    pub made: String,
    pub made_ago: String,
    pub name: String,
    pub size: String,
    pub keys: String,
    pub check: String,
    pub check_failed: bool,
    pub pinned: bool,
    /// Who vouches for it: "signed (sign:…)", "unsigned; history recorded it", "unsigned"…
    pub provenance: String,
    /// Nobody vouches for it (unsigned, unknown to history): shown as such, never counted.
    pub unvouched: bool,
    /// What a restore needs, counted ("3 to sign in again, 1 device to plug in").
    pub readiness: Option<String>,
    /// The Home Assistant Core version it restores to (from its `backup.json`).
    pub restores_to: Option<String>,
    pub verify_action: String,
    pub pin_action: String,
    pub unpin_action: String,
    pub delete_href: String,
    pub restore_href: String,
}

/// One destination's section.
pub struct DestinationCopies {
    pub name: String,
    pub location: String,
    pub policy: String,
    pub error: Option<String>,
    pub copies: Vec<CopyLine>,
    /// Manifests that could not be read: (object, why).
    pub unreadable: Vec<(String, String)>,
    /// When these copies were listed ("14:02, 3 minutes ago").
    pub listed: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "copies.html")]
pub struct CopiesPage {
    pub frame: Frame,
    pub sections: Vec<DestinationCopies>,
    pub only: Option<String>,
    pub all_href: String,
    pub moving_href: String,
    pub list_again_action: String,
}

#[derive(Deserialize, Default)]
pub struct CopiesQuery {
    destination: Option<String>,
    notice: Option<String>,
    /// Set by "List again": list the destinations now rather than show the kept listing.
    again: Option<String>,
}

fn keys_of(m: &Manifest) -> String {
    let mut parts = Vec::new();
    if m.encryption.passphrase {
        parts.push("age passphrase".to_owned());
    }
    for r in &m.encryption.recipients {
        parts.push(format!("age key {r}"));
    }
    if let Some(k) = &m.ha_key_fingerprint {
        parts.push(format!("Home Assistant key {k}"));
    }
    parts.join(" · ")
}

fn check_text(m: &Manifest, last: Option<&CheckRow>, now: DateTime<Utc>) -> (String, bool) {
    match last {
        Some(c) if c.ok && c.at > m.verified => (
            format!("Read back {}: matches", human::ago(c.at, now)),
            false,
        ),
        Some(c) if !c.ok => (
            format!(
                "Check failed {}: {}",
                human::ago(c.at, now),
                c.error.as_deref().unwrap_or("unknown error")
            ),
            true,
        ),
        _ => (
            format!("Verified when stored, {}", human::ago(m.verified, now)),
            false,
        ),
    }
}

fn line(
    frame: &Frame,
    d: &Destination,
    (m, vouch): (&Manifest, &Vouch),
    pins: &HashSet<String>,
    checks: &HashMap<(String, String), CheckRow>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> CopyLine {
    let made = made_at(m);
    let (check, check_failed) =
        check_text(m, checks.get(&(d.name.clone(), m.copy_id.clone())), now);
    let base = format!("/copies/{}/{}", d.name, m.copy_id);
    let action = |a: CopyAction| frame.href(&format!("{base}/{}", a.segment()));
    CopyLine {
        id: m.copy_id.clone(),
        made: local(made, tz),
        made_ago: human::ago(made, now),
        name: m.backup.name.clone(),
        size: human::size(m.stored.size),
        keys: keys_of(m),
        check,
        check_failed,
        pinned: pins.contains(&m.copy_id),
        provenance: match vouch {
            Vouch::Signed => m.provenance.word(),
            Vouch::Known => format!("{}; history recorded this copy", m.provenance.word()),
            Vouch::Nobody(why) => why.clone(),
        },
        unvouched: !vouch.vouched(),
        readiness: m.readiness.map(|d| d.describe()),
        restores_to: m.backup.homeassistant.as_ref().map(|h| h.version.clone()),
        verify_action: action(CopyAction::Verify),
        pin_action: action(CopyAction::Pin),
        unpin_action: action(CopyAction::Unpin),
        delete_href: action(CopyAction::Delete),
        restore_href: frame.href(&format!("{base}/restore")),
    }
}

/// `GET /copies`
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Query(q): Query<CopiesQuery>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    let frame =
        Frame::new(&state, &ingress, Section::Copies, "Copies").with_notice(q.notice.as_deref());
    let only = q
        .destination
        .filter(|n| s.destinations.iter().any(|d| &d.name == n));
    let chosen: Vec<&Destination> = s
        .destinations
        .iter()
        .filter(|d| only.as_ref().is_none_or(|n| &d.name == n))
        .collect();
    let checks = s.history.last_checks().await.map_err(|e| at.history(e))?;
    let now = s.watch.clock.now();
    let (changes, again) = (s.history.changes(), q.again.is_some());
    let listings =
        futures::future::join_all(chosen.iter().map(|d| s.listings.of(d, changes, now, again)))
            .await;
    let mut sections = Vec::new();
    for (d, listed) in chosen.iter().zip(listings) {
        let pins = s.history.pins(&d.name).await.map_err(|e| at.history(e))?;
        let records = Records::of(&s.history, &d.name)
            .await
            .map_err(|e| at.history(e))?;
        let mut section = DestinationCopies {
            name: d.name.clone(),
            location: d.location.clone(),
            policy: if d.retention.keeps_everything() {
                "keeps every copy".to_owned()
            } else {
                format!("keeps {}", d.retention)
            },
            error: None,
            copies: Vec::new(),
            unreadable: Vec::new(),
            listed: format!("{}, {}", local(listed.at, s.tz), human::ago(listed.at, now)),
        };
        match &listed.result {
            Err(e) => section.error = Some(e.to_string()),
            Ok(items) => {
                for item in items {
                    match item {
                        Listed::Copy(m) => match records.judge(m) {
                            Ok(vouch) => section.copies.push(line(
                                &frame,
                                d,
                                (m, &vouch),
                                &pins,
                                &checks,
                                now,
                                s.tz,
                            )),
                            Err(why) => section
                                .unreadable
                                .push((layout::manifest_object(&m.copy_id), why.to_string())),
                        },
                        Listed::Unreadable { object, reason } => {
                            section.unreadable.push((object.clone(), reason.clone()));
                        }
                    }
                }
            }
        }
        sections.push(section);
    }
    Ok(CopiesPage {
        sections,
        only,
        all_href: frame.href("/copies"),
        moving_href: frame.href("/moving"),
        list_again_action: frame.href("/copies/list-again"),
        frame,
    }
    .into_response())
}

/// What "List again" sends: the destination shown alone, if one is.
#[derive(Deserialize, Default)]
pub struct ListAgainForm {
    destination: Option<String>,
}

/// `POST /copies/list-again`: back to the copies page, listed anew.
pub async fn list_again(
    ingress: Ingress,
    Live(s): Live,
    axum::Form(form): axum::Form<ListAgainForm>,
) -> Response {
    let only = form
        .destination
        .filter(|n| s.destinations.iter().any(|d| &d.name == n));
    let path = match only {
        Some(d) => format!("/copies?destination={d}&again=1"),
        None => "/copies?again=1".to_owned(),
    };
    axum::response::Redirect::to(&format!("{}{path}", ingress.prefix)).into_response()
}

/// The destination and copy a path names, or the page that says they do not exist.
pub(super) async fn find(
    at: &At<'_>,
    s: &Services,
    destination: &str,
    copy: &str,
) -> Result<(Destination, Manifest), PageError> {
    let missing = |heading: &str, detail: String| at.missing(heading, &detail);
    let d = plain_segment(destination)
        .then(|| s.destinations.iter().find(|d| d.name == destination))
        .flatten()
        .cloned()
        .ok_or_else(|| {
            missing(
                "No such destination",
                "The options name no destination like this one.".to_owned(),
            )
        })?;
    if !plain_segment(copy) {
        return Err(missing("No such copy", "This is not a copy's name.".into()));
    }
    let m = manifest::fetch(&d, copy).await.map_err(|e| match e {
        manifest::FetchError::Store(e) => missing(
            "No such copy",
            format!("{} does not hold copy {copy}: {e}", d.name),
        ),
        manifest::FetchError::Unreadable(e) => missing(
            "This copy's manifest cannot be read",
            format!("Copy {copy} on {}: {e}", d.name),
        ),
    })?;
    // What history recorded of the same copy must agree, or nothing is done with it.
    let records = Records::of(&s.history, &d.name)
        .await
        .map_err(|e| at.history(e))?;
    if let Err(why) = records.judge(&m) {
        return Err(missing(
            "This copy's manifest contradicts history",
            format!("Copy {copy} on {}: {why}", d.name),
        ));
    }
    Ok((d, m))
}

fn to_copies(ingress: &Ingress, destination: &str, notice: &str) -> Response {
    back_to(
        &ingress.prefix,
        &format!("/copies?destination={destination}"),
        notice,
    )
}

/// `POST /copies/{destination}/{copy}/{action}`: `verify`, `pin`, `unpin` or `delete`.
pub async fn act(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path((destination, copy, action)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    let action = CopyAction::parse(&action).ok_or_else(|| at.nothing_here())?;
    match action {
        // Works for a copy that is gone too.
        CopyAction::Unpin => unpin(&at, &ingress, &s, &destination, &copy).await,
        CopyAction::Verify => {
            let (d, m) = find(&at, &s, &destination, &copy).await?;
            let job = Job::VerifyCopy {
                destination: d.name.clone(),
                copy_id: m.copy_id,
            };
            let notice = match s.triggers.submit(job) {
                Ok(()) => "verifying",
                Err(TriggerError::Queued) => "busy",
                Err(TriggerError::Stopped) => "stopping",
            };
            Ok(to_copies(&ingress, &d.name, notice))
        }
        CopyAction::Pin => {
            let (d, m) = find(&at, &s, &destination, &copy).await?;
            s.history
                .pin(&d.name, &m.copy_id, s.watch.clock.now())
                .await
                .map_err(|e| at.history(e))?;
            Ok(to_copies(&ingress, &d.name, "pinned"))
        }
        CopyAction::Delete => {
            let (d, m) = find(&at, &s, &destination, &copy).await?;
            Ok(delete(&state, &ingress, &s, &d, &m).await)
        }
    }
}

async fn unpin(
    at: &At<'_>,
    ingress: &Ingress,
    s: &Services,
    destination: &str,
    copy: &str,
) -> Result<Response, PageError> {
    if !plain_segment(copy) || !s.destinations.iter().any(|d| d.name == destination) {
        return Err(at.nothing_here());
    }
    s.history
        .unpin(destination, copy)
        .await
        .map_err(|e| at.history(e))?;
    Ok(to_copies(ingress, destination, "unpinned"))
}

#[derive(Template, WebTemplate)]
#[template(path = "delete.html")]
pub struct DeletePage {
    pub frame: Frame,
    pub destination: String,
    pub copy_id: String,
    pub name: String,
    pub made: String,
    pub size: String,
    /// What deleting it loses, in plain words.
    pub losses: Vec<String>,
    pub pinned: bool,
    pub action: String,
    pub unpin_action: String,
    pub back_href: String,
}

/// `GET /copies/{destination}/{copy}/delete`: names what would be lost (other actions have no
/// page).
pub async fn confirm_delete(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Path((destination, copy, action)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Copies);
    if CopyAction::parse(&action) != Some(CopyAction::Delete) {
        return Err(at.nothing_here());
    }
    let (d, m) = find(&at, &s, &destination, &copy).await?;
    let frame = Frame::new(&state, &ingress, Section::Copies, "Delete a copy?");
    let pinned = s
        .history
        .pins(&d.name)
        .await
        .map_err(|e| at.history(e))?
        .contains(&m.copy_id);
    let mut losses = Vec::new();
    let here: Vec<Manifest> = listings::list(&d)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| match l {
            Listed::Copy(c) => Some(*c),
            Listed::Unreadable { .. } => None,
        })
        .collect();
    let others_here = here.iter().filter(|c| c.copy_id != m.copy_id).count();
    if here
        .iter()
        .map(made_at)
        .max()
        .is_some_and(|newest| newest <= made_at(&m))
    {
        losses.push(format!(
            "This is the newest copy on {}. Until the next backup, {} will hold nothing newer than {}.",
            d.name,
            d.name,
            here.iter()
                .filter(|c| c.copy_id != m.copy_id)
                .map(made_at)
                .max()
                .map_or_else(|| "nothing at all".to_owned(), |t| local(t, s.tz))
        ));
    }
    losses.push(match others_here {
        0 => format!("{} will hold no copy at all.", d.name),
        1 => format!("{} will still hold 1 other copy.", d.name),
        n => format!("{} will still hold {n} other copies.", d.name),
    });
    let elsewhere: Vec<String> = {
        let others: Vec<&Destination> =
            s.destinations.iter().filter(|o| o.name != d.name).collect();
        let listed = futures::future::join_all(others.iter().map(|o| listings::list(o))).await;
        others
            .iter()
            .zip(listed)
            .filter(|(_, l)| {
                l.as_ref().is_ok_and(|items| {
                    items.iter().any(|i| {
                        matches!(i, Listed::Copy(c) if c.backup.slug == m.backup.slug && c.plain.sha256 == m.plain.sha256)
                    })
                })
            })
            .map(|(o, _)| o.name.clone())
            .collect()
    };
    losses.push(if elsewhere.is_empty() {
        "No other destination holds this backup: once deleted, it is gone for good.".to_owned()
    } else {
        format!("This backup is also stored on {}.", elsewhere.join(", "))
    });
    let base = format!("/copies/{}/{}", d.name, m.copy_id);
    Ok(DeletePage {
        destination: d.name.clone(),
        copy_id: m.copy_id.clone(),
        name: m.backup.name.clone(),
        made: local(made_at(&m), s.tz),
        size: human::size(m.stored.size),
        losses,
        pinned,
        action: frame.href(&format!("{base}/{}", CopyAction::Delete.segment())),
        unpin_action: frame.href(&format!("{base}/{}", CopyAction::Unpin.segment())),
        back_href: frame.href(&format!("/copies?destination={}", d.name)),
        frame,
    }
    .into_response())
}

/// Deletes a copy that is not pinned, and records who did.
async fn delete(
    state: &AppState,
    ingress: &Ingress,
    s: &Services,
    d: &Destination,
    m: &Manifest,
) -> Response {
    match s.history.pins(&d.name).await {
        Ok(p) if p.contains(&m.copy_id) => {
            return problem(
                StatusCode::CONFLICT,
                Frame::new(state, ingress, Section::Copies, "Pinned"),
                "This copy is pinned",
                "Unpin it first if you really mean to delete it.",
            );
        }
        Ok(_) => {}
        Err(e) => {
            return At::new(state, ingress, Section::Copies)
                .history(e)
                .into_response();
        }
    }
    let who = ingress.user.as_deref().unwrap_or("someone");
    let deletion = Deletion {
        copy_id: m.copy_id.clone(),
        made: Some(made_at(m)),
        trigger: "dashboard".into(),
        reason: format!("deleted from the dashboard by {who}"),
    };
    // A job on the one queue, as every deletion is. The page waits a little for its outcome; a
    // deletion queued behind a backup is not held open until the backup ends.
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let job = Job::Delete {
        destination: d.name.clone(),
        object: m.object.clone(),
        deletion,
        reply: Some(reply),
    };
    match s.triggers.submit(job) {
        Ok(()) => {}
        Err(TriggerError::Queued) => return to_copies(ingress, &d.name, "busy"),
        Err(TriggerError::Stopped) => return to_copies(ingress, &d.name, "stopping"),
    }
    match tokio::time::timeout(DELETE_WAIT, outcome).await {
        Ok(Ok(Ok(()))) => to_copies(ingress, &d.name, "deleted"),
        Ok(Ok(Err(e))) => not_deleted(state, ingress, &e.to_string()),
        Ok(Err(_)) => not_deleted(state, ingress, &TriggerError::Stopped.to_string()),
        Err(_) => to_copies(ingress, &d.name, "delete-queued"),
    }
}

/// How long the Delete button waits for its job before answering that it is queued.
const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn not_deleted(state: &AppState, ingress: &Ingress, why: &str) -> Response {
    problem(
        StatusCode::BAD_GATEWAY,
        Frame::new(state, ingress, Section::Copies, "Not deleted"),
        "The copy could not be deleted",
        why,
    )
}

#[cfg(test)]
mod tests {
    use super::CopyAction;

    #[test]
    fn an_action_is_named_by_its_path_segment_and_nothing_else() {
        for a in CopyAction::ALL {
            assert_eq!(CopyAction::parse(a.segment()), Some(a));
        }
        for bad in ["", "Pin", "restore", "delete/", "verify "] {
            assert_eq!(CopyAction::parse(bad), None, "{bad:?}");
        }
    }
}
