//! The emergency-kit page: which keys lock the copies and whether each is at hand (the key
//! ledger); making a new age key (its private half shown once, on a printable sheet with QR codes,
//! and kept — public half only — when its last group is typed back); printing the kit again; and
//! the periodic "do you still have your kit?" check. Pages that show a key are never cached.

use super::sealing::{seal, unseal};
use super::{At, Live, PageError, local};
use crate::crypto::enrol::Enrolment;
use crate::crypto::identity::{self, KeyPair};
use crate::crypto::keyring::Keyring;
use crate::crypto::kit::{Kit, KitPlace};
use crate::history::{KitDue, LedgerEntry};
use crate::human;
use crate::secret::Secret;
use crate::web::csrf::Token;
use crate::web::frame::{Frame, Section, back_to};
use crate::web::ingress::Ingress;
use crate::web::qr;
use crate::web::{AppState, Services};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::{Arc, Mutex, PoisonError};

/// A key pair shown once and waiting for its last group to be typed back. Only one waits at a
/// time: making another forgets it.
pub struct PendingKey {
    token: Token,
    enrolment: Enrolment,
}

/// Where the waiting key pair lives.
pub type PendingSlot = Arc<Mutex<Option<PendingKey>>>;

/// An age key on the page.
pub struct LockLine {
    pub fingerprint: String,
    pub recipient: String,
    pub origin: String,
    pub sealed: bool,
    /// Made elsewhere and not registered: the kit check cannot ask for it yet.
    pub can_register: bool,
}

/// A Home Assistant key on the page (fingerprint only).
pub struct HaKeyLine {
    pub fingerprint: String,
    pub added: String,
    pub origin: String,
}

/// One set of keys some stored copies need.
pub struct LedgerLine {
    pub copies: u64,
    pub span: String,
    pub ha: String,
    pub locks: String,
    /// A key these copies need is not at hand.
    pub warning: Option<String>,
}

/// One answer to the kit check.
pub struct CheckLine {
    pub at: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "kit.html")]
pub struct KitPage {
    pub frame: Frame,
    pub no_key: bool,
    pub can_make: bool,
    pub passphrase_mode: bool,
    pub locks: Vec<LockLine>,
    pub ha_keys: Vec<HaKeyLine>,
    pub ledger: Vec<LedgerLine>,
    pub check_level: &'static str,
    pub check_status: String,
    pub ask_age: bool,
    pub ask_ha: bool,
    pub checks: Vec<CheckLine>,
    pub has_sealed: bool,
    /// The manifest signing keys the home has used (origin: whose).
    pub signers: Vec<HaKeyLine>,
    /// What was wrong with the form just sent.
    pub error: Option<String>,
}

/// A Home Assistant key on the printed sheet.
pub struct SheetHaKey {
    pub key: String,
    pub fingerprint: String,
    pub qr: String,
}

/// An age key on the printed sheet.
pub struct SheetLock {
    pub recipient: String,
    pub fingerprint: String,
    pub private: Option<String>,
    pub groups: String,
    pub qr: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "kit_sheet.html")]
pub struct SheetPage {
    pub frame: Frame,
    pub made: String,
    /// Set on the sheet of a key just made: the confirm form's token.
    pub token: Option<String>,
    pub group_len: usize,
    pub ha_keys: Vec<SheetHaKey>,
    pub locks: Vec<SheetLock>,
    pub passphrase: bool,
    pub places: Vec<KitPlace>,
    pub steps: Vec<String>,
    pub sources: Vec<crate::crypto::kit::KitSource>,
    pub signers: Vec<crate::crypto::kit::KitSigner>,
}

#[derive(Template, WebTemplate)]
#[template(path = "kit_confirm.html")]
pub struct ConfirmPage {
    pub frame: Frame,
    pub token: String,
    pub group_len: usize,
    pub error: String,
}

#[derive(Deserialize, Default)]
pub struct KitQuery {
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewKeyForm {
    #[serde(default)]
    passphrase: Option<Secret>,
    #[serde(default)]
    again: Option<Secret>,
}

#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    identity: Option<Secret>,
    #[serde(default)]
    passphrase: Option<Secret>,
    #[serde(default)]
    again: Option<Secret>,
}

#[derive(Deserialize, Default)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    group: String,
}

#[derive(Deserialize, Default)]
pub struct CheckForm {
    #[serde(default)]
    age_group: String,
    #[serde(default)]
    ha_group: String,
}

#[derive(Deserialize, Default)]
pub struct PrintForm {
    #[serde(default)]
    passphrase: Option<Secret>,
}

/// A page holding a key: never stored by the browser or anything between.
fn private(page: impl IntoResponse) -> Response {
    let mut r = page.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn kit_status(
    due: Option<&KitDue>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> (&'static str, String) {
    let Some(due) = due else {
        return (
            "new",
            "Lifeboat does not ask for kit checks (kit_check_days is 0).".into(),
        );
    };
    let last = due.checked.map_or_else(
        || "never checked".to_owned(),
        |t| format!("last checked {} ({})", human::ago(t, now), local(t, tz)),
    );
    match due.due {
        Some(d) if d <= now => ("bad", format!("Check overdue: {last}.")),
        Some(d) => (
            "ok",
            format!("{}; next check {}.", capitalise(&last), human::in_(now, d)),
        ),
        None => (
            "new",
            format!(
                "{}; the first check is due once a copy exists.",
                capitalise(&last)
            ),
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One set of keys some stored copies need, flagged when a key is not at hand.
fn ledger_line(keys: &Keyring, e: LedgerEntry, tz: chrono_tz::Tz) -> LedgerLine {
    let span = if e.oldest.date_naive() == e.newest.date_naive() {
        local(e.newest, tz)
    } else {
        format!("{} – {}", local(e.oldest, tz), local(e.newest, tz))
    };
    let Some(ledger) = e.keys else {
        return LedgerLine {
            copies: e.copies,
            span,
            ha: "not recorded".into(),
            locks: "not recorded".into(),
            warning: Some(
                "made before Lifeboat kept a key ledger: their keys are in their manifests".into(),
            ),
        };
    };
    let verdict = keys.judge(&ledger);
    let mut warning = Vec::new();
    if !verdict.ha_key_at_hand {
        warning.push(if ledger.ha_key.is_some() {
            "their Home Assistant key is not in the vault: import it from Home Assistant's emergency kit"
        } else {
            "no known Home Assistant key opened these backups: find the key they were made with"
        });
    }
    if !verdict.locks_retired.is_empty() {
        warning.push("they are locked to an age key you no longer use: keep that key's kit page");
    }
    LedgerLine {
        copies: e.copies,
        span,
        ha: match (&ledger.ha_key, ledger.protected) {
            (Some(fp), _) => fp.clone(),
            (None, true) => "unknown".into(),
            (None, false) => "not protected".into(),
        },
        locks: if ledger.passphrase {
            "the options' passphrase".into()
        } else {
            ledger.recipients.join(", ")
        },
        warning: (!warning.is_empty()).then(|| warning.join("; ")),
    }
}

/// Each age key the copies are locked to (`encryption`, as `keys` gave it): where it came from
/// and what can be done with it.
fn lock_lines(
    keys: &Keyring,
    encryption: &crate::config::EncryptionSpec,
    tz: chrono_tz::Tz,
) -> Vec<LockLine> {
    let made = keys.age_keys();
    encryption
        .recipients
        .iter()
        .map(|r| {
            let mine = made.iter().find(|m| m.recipient == r.to_string());
            LockLine {
                fingerprint: crate::crypto::recipient_fingerprint(r),
                recipient: r.to_string(),
                origin: match mine {
                    None => "from the options (made elsewhere)".to_owned(),
                    Some(m) if m.registered => format!(
                        "from the options; registered for the kit check {}",
                        local(m.made, tz)
                    ),
                    Some(m) => format!("made here {}", local(m.made, tz)),
                },
                sealed: mine.is_some_and(|m| m.sealed),
                can_register: mine.is_none() && keys.vault.is_some(),
            }
        })
        .collect()
}

pub(super) async fn kit_page(
    state: &AppState,
    ingress: &Ingress,
    s: &Services,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let now = s.watch.clock.now();
    let frame = Frame::new(state, ingress, Section::Kit, "Emergency kit").with_notice(notice);
    let keys = &s.keys;
    let encryption = keys.encryption();
    let locks = lock_lines(keys, &encryption, s.tz);
    let ha_keys = keys
        .ha_key_list()
        .into_iter()
        .rev()
        .map(|k| HaKeyLine {
            fingerprint: k.fingerprint,
            added: local(k.added, s.tz),
            origin: k.origin,
        })
        .collect();
    let (ledger, checks, due) = match (
        s.history.key_ledger().await,
        s.history.kit_checks(10).await,
        match s.watch.kit_every {
            Some(every) => s.history.kit_due(every).await.map(Some),
            None => Ok(None),
        },
    ) {
        (Ok(l), Ok(c), Ok(d)) => (l, c, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return Err(At::new(state, ingress, Section::Kit).history(e));
        }
    };
    let ledger = ledger
        .into_iter()
        .map(|e| ledger_line(keys, e, s.tz))
        .collect();
    let (check_level, check_status) = kit_status(due.as_ref(), now, s.tz);
    let (ask_age, ask_ha) = keys.check_asks();
    let page = KitPage {
        frame,
        no_key: encryption.has_no_key(),
        can_make: keys.can_make_keys(),
        passphrase_mode: encryption.passphrase.is_some(),
        locks,
        ha_keys,
        ledger,
        check_level,
        check_status,
        ask_age,
        ask_ha,
        checks: checks
            .into_iter()
            .map(|c| CheckLine {
                at: local(c.at, s.tz),
                ok: c.ok,
                detail: c.detail,
            })
            .collect(),
        has_sealed: keys.has_sealed(),
        signers: keys
            .signers()
            .into_iter()
            .map(|k| HaKeyLine {
                fingerprint: k.fingerprint,
                added: local(k.added, s.tz),
                origin: if k.own { "this box" } else { "an earlier box" }.into(),
            })
            .collect(),
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

/// `GET /kit`.
pub async fn page(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Query(q): Query<KitQuery>,
) -> Result<Response, PageError> {
    kit_page(&state, &ingress, &s, q.notice.as_deref(), None).await
}

async fn sheet(
    state: &AppState,
    ingress: &Ingress,
    s: &Services,
    private: &[KeyPair],
    token: Option<String>,
) -> SheetPage {
    let now = s.watch.clock.now();
    let places = s.destinations.iter().map(KitPlace::from).collect();
    // A key just made is not kept yet: it belongs on its own sheet all the same.
    let lock = s
        .keys
        .encryption()
        .with_made(private.iter().map(KeyPair::recipient).collect());
    // The box's signing key is made now if no copy has needed it yet: the kit must name it.
    if let Some(seed) = crate::signing::fresh_seed() {
        s.keys.signing_key(now, &seed);
    }
    let mut kit = Kit::gather(now, &s.keys.ha_keys(), &lock, private, places)
        .with_sources(s.sources.clone())
        .with_signers(&s.keys.signers());
    match s.history.newest_readiness().await {
        Ok(Some((_, date, r))) => kit = kit.with_readiness(date, r.report),
        Ok(None) => {}
        Err(e) => tracing::warn!("reading the newest readiness report for the kit: {e}"),
    }
    let steps = kit.steps();
    SheetPage {
        frame: Frame::new(state, ingress, Section::Kit, "Your emergency kit"),
        made: local(now, s.tz),
        token,
        group_len: identity::GROUP,
        ha_keys: kit
            .ha_keys
            .iter()
            .map(|k| SheetHaKey {
                key: k.key.expose().to_owned(),
                fingerprint: k.fingerprint.clone(),
                qr: qr::svg(k.key.expose(), "QR code of the Home Assistant backup key")
                    .unwrap_or_default(),
            })
            .collect(),
        locks: kit
            .locks
            .iter()
            .map(|l| SheetLock {
                recipient: l.recipient.clone(),
                fingerprint: l.fingerprint.clone(),
                private: l.private.as_ref().map(|p| p.expose().to_owned()),
                groups: l.private_groups.join(" "),
                qr: l
                    .private
                    .as_ref()
                    .and_then(|p| qr::svg(p.expose(), "QR code of the age private key")),
            })
            .collect(),
        passphrase: kit.passphrase,
        places: kit.places,
        steps,
        sources: kit.sources,
        signers: kit.signers,
    }
}

/// `POST /kit/new`: makes a key pair and shows its sheet, once.
pub async fn make(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<NewKeyForm>,
) -> Result<Response, PageError> {
    if !s.keys.can_make_keys() {
        let why = if s.keys.options.passphrase.is_some() {
            "The options encrypt with a passphrase, which age cannot mix with keys: remove encryption.passphrase first."
        } else {
            "The key vault could not be opened; Lifeboat's log says why."
        };
        return kit_page(&state, &ingress, &s, None, Some(why.into())).await;
    }
    let passphrase = match identity::chosen_passphrase(
        form.passphrase.as_ref().map(Secret::expose),
        form.again.as_ref().map(Secret::expose),
    ) {
        Ok(p) => p,
        Err(e) => return kit_page(&state, &ingress, &s, None, Some(format!("{e}."))).await,
    };
    // scrypt is slow on purpose: off the request threads.
    let begun = tokio::task::spawn_blocking(move || Enrolment::begin(passphrase.as_ref())).await;
    let enrolment = match begun {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return kit_page(&state, &ingress, &s, None, Some(format!("{e}."))).await,
        Err(e) => return kit_page(&state, &ingress, &s, None, Some(e.to_string())).await,
    };
    let token = match Token::random() {
        Ok(t) => t,
        Err(e) => {
            return kit_page(
                &state,
                &ingress,
                &s,
                None,
                Some(format!("no randomness: {e}")),
            )
            .await;
        }
    };
    let page = sheet(
        &state,
        &ingress,
        &s,
        std::slice::from_ref(enrolment.pair()),
        Some(token.as_str().to_owned()),
    )
    .await;
    *s.pending_key.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(PendingKey { token, enrolment });
    Ok(private(page))
}

/// `POST /kit/confirm`: keeps the waiting key pair when its last group is typed back.
pub async fn confirm(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let at = At::new(&state, &ingress, Section::Kit);
    let taken = {
        let mut slot = s.pending_key.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(p) if p.token.matches(&form.token) => {
                if p.enrolment.is_last_group(&form.group) {
                    slot.take()
                } else {
                    None
                }
            }
            _ => {
                return Err(at.said(
                    StatusCode::CONFLICT,
                    "Key no longer waiting",
                    "That key is no longer waiting",
                    "A newer key was made since, or Lifeboat restarted: nothing was kept. Throw that sheet away and make a new key.",
                ));
            }
        }
    };
    let Some(p) = taken else {
        let page = ConfirmPage {
            frame: Frame::new(&state, &ingress, Section::Kit, "Type the last group"),
            token: form.token,
            group_len: identity::GROUP,
            error:
                "That is not the key's last group. Look at the sheet you printed or wrote down: \
                    the last group of the private key, AGE-SECRET-KEY-1…"
                    .into(),
        };
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let now = s.watch.clock.now();
    if let Err(e) = p.enrolment.keep(&s.keys, &s.history, now).await {
        tracing::error!("{e}");
        return Err(at.said(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not kept",
            "The new key could not be kept",
            "The key vault could not store it (Lifeboat's log says why). Nothing changed: copies \
             are encrypted as before. Throw the sheet away and try again.",
        ));
    }
    Ok(back_to(&ingress.prefix, "/kit", "key-kept"))
}

/// `POST /kit/register`: a key made elsewhere (an options recipient) typed in once, so the kit
/// check can ask for it and, with a passphrase, restores can use it. Only its check digest (and
/// the sealed copy, if asked for) is kept.
pub async fn register(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    let refuse = |why: String| kit_page(&state, &ingress, &s, None, Some(why));
    let text = form.identity.unwrap_or_else(|| Secret::new(""));
    let pair = match KeyPair::find_in(text.expose()) {
        Ok(p) => p,
        Err(e) => return refuse(format!("{e}.")).await,
    };
    let passphrase = match identity::chosen_passphrase(
        form.passphrase.as_ref().map(Secret::expose),
        form.again.as_ref().map(Secret::expose),
    ) {
        Ok(p) => p,
        Err(e) => return refuse(format!("{e}.")).await,
    };
    let (pair, sealed) = match seal(pair, passphrase).await {
        Ok(v) => v,
        Err(e) => return refuse(e.to_string()).await,
    };
    let now = s.watch.clock.now();
    if let Err(e) = s.keys.register(&pair, sealed, now) {
        return refuse(format!("Not registered: {e}.")).await;
    }
    if let Err(e) = s
        .history
        .record_kit_check(
            now,
            true,
            "an age key made elsewhere was typed in and registered",
        )
        .await
    {
        tracing::warn!("recording the kit check: {e}");
    }
    Ok(back_to(&ingress.prefix, "/kit", "key-registered"))
}

/// `POST /kit/forget`: throws the waiting key pair away.
pub async fn forget(ingress: Ingress, Live(s): Live) -> Response {
    s.pending_key
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    back_to(&ingress.prefix, "/kit", "key-forgotten")
}

/// `POST /kit/check`: the periodic check of the printed kit.
pub async fn check(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<CheckForm>,
) -> Result<Response, PageError> {
    let answer = s.keys.check(&form.age_group, &form.ha_group);
    let now = s.watch.clock.now();
    s.history
        .record_kit_check(now, answer.ok, &answer.detail)
        .await
        .map_err(|e| At::new(&state, &ingress, Section::Kit).history(e))?;
    if answer.ok {
        Ok(back_to(&ingress.prefix, "/kit", "kit-checked"))
    } else {
        kit_page(
            &state,
            &ingress,
            &s,
            None,
            Some(format!(
                "The kit check did not pass ({}). Find the printed kit and try again; if it is lost, make a new key and print a new kit.",
                answer.detail
            )),
        )
        .await
    }
}

/// `POST /kit/print`: the printable kit, with the private keys the passphrase unseals.
pub async fn print(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<PrintForm>,
) -> Result<Response, PageError> {
    let opened = match form.passphrase.filter(|p| !p.is_empty()) {
        Some(p) => match unseal(&s.keys, p).await {
            Ok(pairs) => pairs,
            Err(e) => return kit_page(&state, &ingress, &s, None, Some(e.to_string())).await,
        },
        None => Vec::new(),
    };
    Ok(private(sheet(&state, &ingress, &s, &opened, None).await))
}
