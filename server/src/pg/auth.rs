//! Password authentication: SCRAM-SHA-256 for every user, except users the configuration
//! marks `auth = "md5"` (for older drivers). Unknown users go through a SCRAM exchange
//! with a random secret and fail exactly like a wrong password (28P01), so the server does
//! not reveal which users exist.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::md5pass::{hash_md5_password, Md5PasswordAuthStartupHandler};
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, SCRAM_ITERATIONS};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use strata_query::Settings;

use crate::config::{AuthMethod, Config};

/// Password lookup for both mechanisms.
#[derive(Debug)]
pub(crate) struct Users {
    users: HashMap<String, (String, AuthMethod)>,
    /// Salted SCRAM secrets, computed once per user (4096 PBKDF2 rounds each).
    scram: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

impl Users {
    pub(crate) fn new(config: &Config) -> Users {
        let users: HashMap<_, _> = config
            .users
            .iter()
            .map(|u| (u.name.clone(), (u.password.clone(), u.auth)))
            .collect();
        let scram = users
            .iter()
            .map(|(name, (password, _))| {
                let salt: [u8; 16] = rand_bytes();
                (
                    name.clone(),
                    (
                        salt.to_vec(),
                        gen_salted_password(password, &salt, SCRAM_ITERATIONS),
                    ),
                )
            })
            .collect();
        Users { users, scram }
    }

    fn method(&self, user: &str) -> AuthMethod {
        self.users.get(user).map_or(AuthMethod::Scram, |u| u.1)
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

#[derive(Debug)]
struct ScramSource(Arc<Users>);

#[async_trait]
impl AuthSource for ScramSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        match self.0.scram.get(user) {
            Some((salt, secret)) => Ok(Password::new(Some(salt.clone()), secret.clone())),
            None => {
                // A secret nobody knows: the exchange fails at the proof.
                let salt: [u8; 16] = rand_bytes();
                let secret: [u8; 32] = rand_bytes();
                Ok(Password::new(Some(salt.to_vec()), secret.to_vec()))
            }
        }
    }
}

#[derive(Debug)]
struct Md5Source(Arc<Users>);

#[async_trait]
impl AuthSource for Md5Source {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let salt: [u8; 4] = rand_bytes();
        let password = self
            .0
            .users
            .get(user)
            .map(|u| u.0.clone())
            .unwrap_or_default();
        let hashed = hash_md5_password(user, &password, &salt);
        Ok(Password::new(Some(salt.to_vec()), hashed.into_bytes()))
    }
}

/// The parameters reported at startup: the session's values of those PostgreSQL reports
/// (`DateStyle`, `TimeZone`, `application_name`, ...), which drivers read to parse values.
pub(crate) fn parameters(settings: &Settings) -> DefaultServerParameterProvider {
    let value = |name: &str, default: &str| settings.get(name).unwrap_or(default).to_owned();
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = strata_query::settings::SERVER_VERSION.to_owned();
    p.time_zone = value("timezone", "UTC");
    p.date_style = value("datestyle", "ISO, MDY");
    p.interval_style = value("intervalstyle", "postgres");
    p.search_path = value("search_path", "\"$user\", public");
    p.application_name = Some(value("application_name", ""));
    p.default_transaction_read_only =
        settings.get("default_transaction_read_only").ok() == Some("on");
    p
}

enum Chosen {
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    Md5(Md5PasswordAuthStartupHandler<Md5Source, DefaultServerParameterProvider>),
}

/// One connection's startup: picks the mechanism from the user name, checks the
/// database name, and reports success through `on_ready`.
pub(crate) struct Startup {
    users: Arc<Users>,
    database: String,
    chosen: OnceLock<Chosen>,
    /// The session parameters of the startup message.
    settings: OnceLock<Settings>,
    on_ready: OnReady,
}

/// Called with (user, backend pid, secret key, the startup message's session parameters)
/// once a connection is authenticated.
type OnReady = Box<dyn Fn(&str, i32, bytes::Bytes, Settings) + Send + Sync>;

impl Startup {
    pub(crate) fn new(
        users: Arc<Users>,
        database: String,
        on_ready: impl Fn(&str, i32, bytes::Bytes, Settings) + Send + Sync + 'static,
    ) -> Self {
        Startup {
            users,
            database,
            chosen: OnceLock::new(),
            settings: OnceLock::new(),
            on_ready: Box::new(on_ready),
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let user = startup.parameters.get("user").cloned().unwrap_or_default();
            if user.is_empty() {
                return Err(fatal(
                    "28000",
                    "no PostgreSQL user name specified in startup packet",
                ));
            }
            let db = startup
                .parameters
                .get("database")
                .cloned()
                .unwrap_or_else(|| user.clone());
            if db != self.database {
                return Err(fatal("3D000", &format!("database \"{db}\" does not exist")));
            }
            let settings = Settings::at_startup(
                startup
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|e| fatal(e.sqlstate(), &e.to_string()))?;
            let chosen = match self.users.method(&user) {
                AuthMethod::Md5 => Chosen::Md5(Md5PasswordAuthStartupHandler::new(
                    Arc::new(Md5Source(Arc::clone(&self.users))),
                    Arc::new(parameters(&settings)),
                )),
                AuthMethod::Scram => {
                    let mut scram = ScramAuth::new(Arc::new(ScramSource(Arc::clone(&self.users))));
                    scram.set_iterations(SCRAM_ITERATIONS);
                    Chosen::Scram(
                        SASLAuthStartupHandler::new(Arc::new(parameters(&settings)))
                            .with_scram(scram),
                    )
                }
            };
            if self.chosen.set(chosen).is_err() || self.settings.set(settings).is_err() {
                return Err(fatal("08P01", "duplicate startup message"));
            }
        }
        let Some(chosen) = self.chosen.get() else {
            return Err(fatal("08P01", "expected a startup message"));
        };
        match chosen {
            Chosen::Scram(h) => h.on_startup(client, message).await?,
            Chosen::Md5(h) => h.on_startup(client, message).await?,
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            let user = client.metadata().get("user").cloned().unwrap_or_default();
            let (pid, key) = client.pid_and_secret_key();
            let settings = self.settings.get().cloned().unwrap_or_default();
            (self.on_ready)(&user, pid, key.to_bytes(), settings);
        }
        Ok(())
    }
}

fn fatal(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message.into(),
    )))
}
