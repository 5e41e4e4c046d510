//! Why a page could not be shown, as one type every page handler returns
//! (`Result<Response, PageError>`), and its one conversion into the page that says so. A page's
//! handler builds an [`At`] (where it is: the frame around an error page) and turns its failures
//! into [`PageError`]s with it; `?` does the rest.

use crate::history::HistoryError;
use crate::web::AppState;
use crate::web::frame::{Frame, Section, problem};
use crate::web::ingress::Ingress;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Where a page is: what an error page needs to draw the frame around itself.
#[derive(Clone, Copy)]
pub struct At<'a> {
    state: &'a AppState,
    ingress: &'a Ingress,
    section: Section,
}

/// Why a page could not be shown, with the frame its error page is drawn in.
pub struct PageError {
    frame: Frame,
    why: Why,
}

/// What went wrong.
enum Why {
    /// History could not be read or written; the error goes to the log, not into the page (it may
    /// name paths and SQL).
    History(HistoryError),
    /// A page saying what went wrong and what to do, with its status.
    Said {
        status: StatusCode,
        heading: String,
        detail: String,
    },
}

impl<'a> At<'a> {
    /// A page in `section`.
    pub fn new(state: &'a AppState, ingress: &'a Ingress, section: Section) -> Self {
        Self {
            state,
            ingress,
            section,
        }
    }

    /// The frame of an error page titled `title`.
    fn frame(&self, title: &str) -> Frame {
        Frame::new(self.state, self.ingress, self.section, title)
    }

    /// History failed.
    pub fn history(&self, e: HistoryError) -> PageError {
        PageError {
            frame: self.frame("History unavailable"),
            why: Why::History(e),
        }
    }

    /// A page titled `title` that answers `status` and says `heading`, then `detail`.
    pub fn said(&self, status: StatusCode, title: &str, heading: &str, detail: &str) -> PageError {
        PageError {
            frame: self.frame(title),
            why: Why::Said {
                status,
                heading: heading.to_owned(),
                detail: detail.to_owned(),
            },
        }
    }

    /// Something the path names does not exist (404, titled "Not found").
    pub fn missing(&self, heading: &str, detail: &str) -> PageError {
        self.said(StatusCode::NOT_FOUND, "Not found", heading, detail)
    }

    /// Nothing is here at all: the page for any unknown address.
    pub fn nothing_here(&self) -> PageError {
        At::new(self.state, self.ingress, Section::Overview).missing(
            "There is nothing here",
            "The link may be old. Start again from the overview.",
        )
    }
}

/// The one conversion of every page failure into the page that says so.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.why {
            // The page for a history that cannot be read; why goes to the log only.
            Why::History(e) => {
                tracing::error!("reading history: {e}");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    self.frame,
                    "Lifeboat's history could not be read",
                    "Lifeboat's log says why; the data folder may be full or damaged.",
                )
            }
            Why::Said {
                status,
                heading,
                detail,
            } => problem(status, self.frame, &heading, &detail),
        }
    }
}
