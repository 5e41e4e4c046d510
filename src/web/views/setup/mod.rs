//! "Add a destination" and its edit and removal, for every kind: the chooser, each kind's form
//! ([`page`], fields described by the kind), Test ([`trial`]) and Save through the setup
//! ([`crate::setup::Setup`]: checked, saved where the settings live, applied). These pages work
//! while the options are invalid too: a new install has no destination, and this is where it
//! gets one. Secrets are write-only: never in a page, kept unless replaced.

mod page;
pub mod posted;
mod trial;

use super::{At, PageError, plain_segment};
use crate::config::validate_destinations;
use crate::destinations::kinds::DestinationSpec;
use crate::destinations::kinds::{FORMS, form_for};
use crate::secret::Secret;
use crate::setup::{Applied, SetupError};
use crate::web::AppState;
use crate::web::frame::{Frame, Section, back_to};
use crate::web::ingress::Ingress;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use page::{FormPage, Shown};
use posted::{FieldProblem, Posted, on_fields};
use std::collections::{BTreeMap, BTreeSet};

/// One kind on the chooser.
pub struct KindLink {
    pub kind: &'static str,
    pub title: &'static str,
    pub blurb: &'static str,
    pub href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "destination_new.html")]
pub struct ChoosePage {
    pub frame: Frame,
    pub kinds: Vec<KindLink>,
}

#[derive(Template, WebTemplate)]
#[template(path = "destination_remove.html")]
pub struct RemovePage {
    pub frame: Frame,
    pub name: String,
    pub location: String,
}

/// `GET /destinations/new`
pub async fn choose(State(state): State<AppState>, ingress: Ingress) -> Response {
    let frame = Frame::new(&state, &ingress, Section::Destinations, "Add a destination");
    let kinds = FORMS
        .iter()
        .map(|f| KindLink {
            kind: f.kind.as_str(),
            title: f.title,
            blurb: f.blurb,
            href: frame.href(&format!("/destinations/new/{}", f.kind)),
        })
        .collect();
    ChoosePage { frame, kinds }.into_response()
}

/// `GET /destinations/new/{kind}`: the kind's empty form; the query may fill its name and
/// fields that are not secrets (the drives page's "Use it as a destination").
pub async fn new(
    State(state): State<AppState>,
    ingress: Ingress,
    Path(kind): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    let form = form_for(&kind).ok_or_else(|| at.nothing_here())?;
    let mut shown = Shown::default();
    for f in crate::destinations::kinds::form::COMMON
        .iter()
        .chain(form.fields)
    {
        if let Some(v) = query.get(f.name).filter(|v| v.len() <= posted::MAX_VALUE)
            && !f.secret()
        {
            shown.values.insert(f.name.to_owned(), v.clone());
        }
    }
    let frame = Frame::new(&state, &ingress, Section::Destinations, form.title);
    let mut page = FormPage::new(frame, form, None, shown);
    page.cannot_save = cannot_save(&state);
    Ok(page.into_response())
}

/// `GET /destinations/{name}/edit`
pub async fn edit(
    State(state): State<AppState>,
    ingress: Ingress,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    if !plain_segment(&name) {
        return Err(at.nothing_here());
    }
    let doc = current(&state)
        .await
        .map_err(|why| at.said(StatusCode::CONFLICT, "Cannot change it here", &why, ""))?;
    let entry = doc
        .destinations()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            at.missing(
                "There is no such destination",
                "It may have been removed or renamed. Start again from Destinations.",
            )
        })?;
    let form = form_for(entry.kind.as_str()).ok_or_else(|| at.nothing_here())?;
    let frame = Frame::new(
        &state,
        &ingress,
        Section::Destinations,
        &format!("Change {name}"),
    );
    let shown = Shown::stored(&entry.name, &entry.fields);
    Ok(FormPage::new(frame, form, Some(name), shown).into_response())
}

/// `POST /destinations/test`: the form again, with what the test found.
pub async fn test(
    State(state): State<AppState>,
    ingress: Ingress,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    let mut posted = Posted::parse(pairs).map_err(|e| bad_form(&at, &e))?;
    let settled = posted.settle();
    let (kept, moved) = kept_secrets(&state, &posted).await;
    // A `!secret` reference is resolved by the Supervisor alone: a test needs the value typed
    // (said first, so it is what the field shows).
    let usable = |f: &str| kept.get(f).filter(|s| !is_reference(s)).cloned();
    let mut problems: Vec<FieldProblem> = kept
        .iter()
        .filter(|(f, s)| is_reference(s) && posted.value(f).is_none())
        .map(|(f, _)| FieldProblem::on(f, REFERENCE))
        .collect();
    problems.extend(settled);
    problems.extend(not_said(posted.check(&usable), &moved));
    problems.extend(moved);
    let kept_fn = usable;
    let mut outcome = None;
    if problems.is_empty() {
        match checked(&posted, &kept_fn) {
            Ok(spec) => {
                let data_dir = data_dir(&state);
                outcome = Some(match trial::nonce() {
                    Ok(n) => trial::test(spec, &data_dir, n).await,
                    Err(e) => trial::Outcome::NotRun(format!("no randomness for the test: {e}")),
                });
            }
            Err(p) => problems = p,
        }
    }
    let mut page = form_again(&state, &ingress, &posted, &kept, problems);
    if let Some(o) = &outcome {
        page = page.with_result(&redacted(o, &posted));
    }
    Ok(page.into_response())
}

/// `POST /destinations/save`: saved where the settings live and applied, then back to the
/// destinations; or the form again, saying what to fix.
pub async fn save(
    State(state): State<AppState>,
    ingress: Ingress,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    let mut posted = Posted::parse(pairs).map_err(|e| bad_form(&at, &e))?;
    let mut before = posted.settle();
    let (kept, moved) = kept_secrets(&state, &posted).await;
    before.extend(moved);
    let problems = match saved(&state, &posted, &kept, before).await {
        Ok(applied) => {
            let notice = match applied {
                Applied::Now => "dest-saved",
                Applied::AfterJob => "dest-saved-later",
            };
            return Ok(back_to(&ingress.prefix, "/destinations", notice));
        }
        Err(p) => p,
    };
    let problems = problems
        .into_iter()
        .map(|mut p| {
            p.message = redact(&p.message, &posted);
            p
        })
        .collect();
    Ok(form_again(&state, &ingress, &posted, &kept, problems).into_response())
}

/// `GET /destinations/{name}/remove`: asks first.
pub async fn ask_remove(
    State(state): State<AppState>,
    ingress: Ingress,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    if !plain_segment(&name) {
        return Err(at.nothing_here());
    }
    let location = state
        .services()
        .and_then(|s| s.destinations.iter().find(|d| d.name == name).cloned())
        .map(|d| d.location.clone())
        .unwrap_or_default();
    let frame = Frame::new(
        &state,
        &ingress,
        Section::Destinations,
        &format!("Remove {name}"),
    );
    Ok(RemovePage {
        frame,
        name,
        location,
    }
    .into_response())
}

/// `POST /destinations/{name}/remove`
pub async fn remove(
    State(state): State<AppState>,
    ingress: Ingress,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Destinations);
    if !plain_segment(&name) {
        return Err(at.nothing_here());
    }
    let Some(setup) = state.setup.clone() else {
        return Err(not_here(&at));
    };
    let removed = async {
        let mut doc = setup.current().await?;
        doc.remove_destination(&name)?;
        setup.save(&doc).await
    };
    match removed.await {
        Ok(Applied::Now) => Ok(back_to(&ingress.prefix, "/destinations", "dest-removed")),
        Ok(Applied::AfterJob) => Ok(back_to(
            &ingress.prefix,
            "/destinations",
            "dest-removed-later",
        )),
        Err(e) => Err(at.said(
            StatusCode::CONFLICT,
            "Not removed",
            &format!("{name} was not removed"),
            &format!("{}. Nothing was changed.", said(&e)),
        )),
    }
}

/// Checks, saves and applies the posted (and settled) destination, after the problems found
/// `before`; the problems to show when it is not saved.
async fn saved(
    state: &AppState,
    posted: &Posted,
    kept: &BTreeMap<String, Secret>,
    before: Vec<FieldProblem>,
) -> Result<Applied, Vec<FieldProblem>> {
    let whole = |m: String| vec![FieldProblem::on("", m)];
    let Some(setup) = state.setup.clone() else {
        return Err(whole(NOT_HERE.into()));
    };
    let kept_fn = |f: &str| kept.get(f).cloned();
    let mut problems = not_said(posted.check(&kept_fn), &before);
    problems.extend(before);
    if posted.form.field("host_key").is_some() && posted.value("host_key").is_none() {
        problems.push(FieldProblem::on(
            "host_key",
            "press Test to see the server's key, and trust it if it is the server's",
        ));
    }
    if problems.is_empty()
        && let Err(p) = checked(posted, &kept_fn)
    {
        problems = p;
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut doc = setup.current().await.map_err(|e| whole(said(&e)))?;
    let entry = posted.entry();
    let name = entry.name.clone();
    doc.put_destination(posted.replacing.as_deref(), entry)
        .map_err(|e| match e {
            crate::config::edit::EditError::NameTaken(_) => {
                vec![FieldProblem::on("name", e.to_string())]
            }
            e => whole(e.to_string()),
        })?;
    let index = doc
        .destinations()
        .iter()
        .position(|d| d.name == name)
        .unwrap_or_default();
    setup.save(&doc).await.map_err(|e| match e {
        SetupError::Invalid(p) => on_fields(p, &format!("destinations[{index}]")),
        e => whole(said(&e)),
    })
}

/// The posted destination's options, checked by Lifeboat's own validation; each problem on its
/// field.
fn checked(
    posted: &Posted,
    kept: &dyn Fn(&str) -> Option<Secret>,
) -> Result<DestinationSpec, Vec<FieldProblem>> {
    let options = posted.options(kept).map_err(|p| vec![p])?;
    let specs = validate_destinations(vec![options]).map_err(|e| {
        on_fields(
            e.problems().iter().map(ToString::to_string),
            "destinations[0]",
        )
    })?;
    specs
        .into_iter()
        .next()
        .ok_or_else(|| vec![FieldProblem::on("", "these settings make no destination")])
}

/// What a kept secret that is a reference to Home Assistant's secrets says on Test.
const REFERENCE: &str = "kept as a reference to Home Assistant's secrets.yaml, which only the \
                         Supervisor reads: type the value here to test it (Save keeps the \
                         reference when this is left empty)";

/// Whether a stored secret is a `!secret name` reference, not a value.
fn is_reference(s: &Secret) -> bool {
    s.expose().starts_with("!secret ")
}

/// The secrets stored for the destination being edited (none for a new one, or when the
/// settings cannot be read here), and the problems when the form no longer connects where they
/// were stored: then none is kept, and each one left empty must be typed again.
async fn kept_secrets(
    state: &AppState,
    posted: &Posted,
) -> (BTreeMap<String, Secret>, Vec<FieldProblem>) {
    let (Some(name), Some(setup)) = (&posted.replacing, &state.setup) else {
        return Default::default();
    };
    let Ok(doc) = setup.current().await else {
        return Default::default();
    };
    let Ok(options) = doc.options() else {
        return Default::default();
    };
    let Some(stored) = options.destinations.iter().find(|d| d.name() == name) else {
        return Default::default();
    };
    let secrets: BTreeMap<String, Secret> = posted
        .form
        .fields
        .iter()
        .filter_map(|f| Some((f.name.to_owned(), stored.secret(f.name)?.clone())))
        .collect();
    let in_place = doc
        .destinations()
        .iter()
        .find(|d| d.name == *name)
        .is_some_and(|d| d.same_place(&posted.entry()));
    if in_place {
        return (secrets, Vec::new());
    }
    let moved = secrets
        .keys()
        .filter(|f| posted.value(f).is_none())
        .map(|f| FieldProblem::on(f, MOVED))
        .collect();
    (BTreeMap::new(), moved)
}

/// What a stored secret left empty says when the form connects somewhere else now.
const MOVED: &str =
    "type it again: the address or account changed, so the saved secret is not sent there";

/// `problems`, less those on a field that `said` has a problem on already.
fn not_said(problems: Vec<FieldProblem>, said: &[FieldProblem]) -> Vec<FieldProblem> {
    problems
        .into_iter()
        .filter(|p| p.field.is_empty() || !said.iter().any(|s| s.field == p.field))
        .collect()
}

/// The posted form shown again: values kept, secrets never (kept ones say so, typed ones ask to
/// be typed again), each problem by its field.
fn form_again(
    state: &AppState,
    ingress: &Ingress,
    posted: &Posted,
    kept: &BTreeMap<String, Secret>,
    problems: Vec<FieldProblem>,
) -> FormPage {
    let secret = |k: &str| posted.form.field(k).is_some_and(|f| f.secret());
    let shown = Shown {
        values: posted
            .values
            .iter()
            .filter(|(k, _)| !secret(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        kept: kept.keys().cloned().collect(),
        retype: posted
            .values
            .iter()
            .filter(|(k, v)| secret(k) && !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect::<BTreeSet<_>>(),
        preset: posted.preset.clone(),
        problems,
    };
    let title = posted
        .replacing
        .as_ref()
        .map_or_else(|| posted.form.title.to_owned(), |n| format!("Change {n}"));
    let frame = Frame::new(state, ingress, Section::Destinations, &title);
    let mut page = FormPage::new(frame, posted.form, posted.replacing.clone(), shown);
    page.cannot_save = cannot_save(state);
    page
}

/// Words a store, a server or the Supervisor sent may echo a value: never a secret typed here.
fn redact(text: &str, posted: &Posted) -> String {
    posted
        .form
        .fields
        .iter()
        .filter(|f| f.secret())
        .filter_map(|f| posted.value(f.name))
        .filter(|v| v.len() >= 3)
        .fold(text.to_owned(), |t, s| t.replace(s, crate::secret::HIDDEN))
}

fn redacted(outcome: &trial::Outcome, posted: &Posted) -> trial::Outcome {
    use trial::Outcome as O;
    match outcome {
        O::Failed(f) => O::Failed(crate::destinations::probe::Failure {
            detail: redact(&f.detail, posted),
            ..f.clone()
        }),
        O::NotRun(w) => O::NotRun(redact(w, posted)),
        O::Works { location } => O::Works {
            location: location.clone(),
        },
        O::TrustKey(k) => O::TrustKey(k.clone()),
    }
}

/// The settings as they stand where they live, or why they cannot be changed here.
async fn current(state: &AppState) -> Result<crate::config::edit::SettingsDoc, String> {
    let setup = state.setup.as_ref().ok_or_else(|| NOT_HERE.to_owned())?;
    setup.current().await.map_err(|e| said(&e))
}

const NOT_HERE: &str = "Settings cannot be saved from this page here: Lifeboat was started without \
                        a settings file to write to. Change them where they were given.";

fn not_here(at: &At<'_>) -> PageError {
    at.said(StatusCode::CONFLICT, "Cannot change it here", NOT_HERE, "")
}

/// Why Save cannot work on this Lifeboat, shown above the form (Test still works).
fn cannot_save(state: &AppState) -> Option<String> {
    match &state.setup {
        None => Some(NOT_HERE.into()),
        Some(s) if !s.editable() => Some(SetupError::NotEditable.to_string()),
        Some(_) => None,
    }
}

/// A setup error in words, starting with a capital.
fn said(e: &SetupError) -> String {
    let t = e.to_string();
    let mut c = t.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn bad_form(at: &At<'_>, e: &posted::PostError) -> PageError {
    at.said(
        StatusCode::BAD_REQUEST,
        "Not a destination form",
        &format!("This is not a form Lifeboat made: {e}"),
        "Start again from Destinations → Add a destination.",
    )
}

/// Where the kinds keep what they keep beside Lifeboat's own state: the data folder, where the
/// drives page keeps rclone.conf.
fn data_dir(state: &AppState) -> std::path::PathBuf {
    state
        .drives
        .config
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
