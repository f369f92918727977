use crate::bindings::stagewright::action::booking::BookingError;
use crate::bindings::stagewright::action::crm::CrmError;
use crate::bindings::stagewright::action::email::EmailError;
use crate::bindings::stagewright::action::feed::FeedError;
use crate::bindings::stagewright::action::notify::NotifyError;
use crate::bindings::stagewright::action::sms::SmsError;
use crate::bindings::stagewright::action::types as wit;

/// Why an action did not succeed; the host retries only [`ActionError::Transient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The robot's configuration cannot be used; an admin must fix it.
    InvalidConfig(String),
    /// Worth another attempt later.
    Transient(String),
    /// Failed for good.
    Failed(String),
}

impl ActionError {
    pub(crate) fn into_wit(self) -> wit::ActionError {
        match self {
            Self::InvalidConfig(m) => wit::ActionError::InvalidConfig(m),
            Self::Transient(m) => wit::ActionError::Transient(m),
            Self::Failed(m) => wit::ActionError::Failed(m),
        }
    }
}

/// A refused CRM call fails the run: the host has already recorded why.
impl From<CrmError> for ActionError {
    fn from(err: CrmError) -> Self {
        match err {
            CrmError::NotFound(r) => Self::Failed(format!("{} {} not found", r.entity_type, r.id)),
            CrmError::Denied(what) => Self::Failed(format!("denied: {what}")),
            CrmError::Invalid(why) => Self::Failed(format!("invalid CRM call: {why}")),
        }
    }
}

/// A refused notification fails the run.
impl From<NotifyError> for ActionError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::Denied => Self::Failed("denied: notify".into()),
            NotifyError::Invalid(why) => Self::Failed(format!("notification refused: {why}")),
        }
    }
}

/// A refused email fails the run.
impl From<EmailError> for ActionError {
    fn from(err: EmailError) -> Self {
        match err {
            EmailError::Denied => Self::Failed("denied: email".into()),
            EmailError::Invalid(why) => Self::Failed(format!("email refused: {why}")),
        }
    }
}

/// A refused booking fails the run; a clash says which booking holds the resource.
impl From<BookingError> for ActionError {
    fn from(err: BookingError) -> Self {
        match err {
            BookingError::Denied(what) => Self::Failed(format!("denied: {what}")),
            BookingError::Taken(why) => Self::Failed(format!("not booked: {why}")),
            BookingError::Invalid(why) => Self::Failed(format!("booking refused: {why}")),
        }
    }
}

/// A refused post fails the run.
impl From<FeedError> for ActionError {
    fn from(err: FeedError) -> Self {
        match err {
            FeedError::Denied(what) => Self::Failed(format!("denied: {what}")),
            FeedError::Invalid(why) => Self::Failed(format!("post refused: {why}")),
        }
    }
}

/// A refused text message fails the run.
impl From<SmsError> for ActionError {
    fn from(err: SmsError) -> Self {
        match err {
            SmsError::Denied(what) => Self::Failed(format!("denied: {what}")),
            SmsError::Invalid(why) => Self::Failed(format!("text message refused: {why}")),
        }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Self::Transient(m) => write!(f, "transient: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ActionError {}
