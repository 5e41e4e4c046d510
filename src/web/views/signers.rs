//! `POST /kit/trust`: trusts an earlier box's manifest signing keys, pasted from its emergency kit,
//! so the copies it made count as this home's again (on a new box they read as forged until then).

use super::kit::kit_page;
use super::{Live, PageError};
use crate::signing::public_keys_in;
use crate::web::AppState;
use crate::web::frame::back_to;
use crate::web::ingress::Ingress;
use axum::extract::{Form, State};
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct TrustForm {
    #[serde(default)]
    keys: String,
}

/// The pasted text is read for `lifeboat-sign:` keys only; anything else in it is ignored.
pub async fn trust(
    State(state): State<AppState>,
    ingress: Ingress,
    Live(s): Live,
    Form(form): Form<TrustForm>,
) -> Result<Response, PageError> {
    let found = public_keys_in(&form.keys);
    if found.is_empty() {
        let why = "No signing key was found in what was pasted: paste the lines starting with lifeboat-sign: from the earlier box's emergency kit.";
        return kit_page(&state, &ingress, &s, None, Some(why.into())).await;
    }
    let now = s.watch.clock.now();
    for key in found {
        if let Err(e) = s.keys.trust_signer(key, now) {
            let why = format!("Not trusted: the key vault could not be written ({e}).");
            return kit_page(&state, &ingress, &s, None, Some(why)).await;
        }
    }
    Ok(back_to(&ingress.prefix, "/kit", "signer-trusted"))
}
