import os

from piccolo.conf.apps import AppConfig

from portal.models.tables import (
    AccessGrant,
    AccessRequest,
    Account,
    Application,
    ApproverRight,
    AuditEvent,
    CatalogField,
    LoginThrottle,
    MfaChallenge,
    OidcClient,
    OutboxMessage,
    PasswordReset,
    RecoveryCode,
    RegistrationDraft,
    Role,
    SecondFactor,
    SigningKey,
    UserSession,
)

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        CatalogField,
        Application,
        Role,
        RegistrationDraft,
        AccessRequest,
        OutboxMessage,
        Account,
        LoginThrottle,
        AccessGrant,
        ApproverRight,
        UserSession,
        PasswordReset,
        AuditEvent,
        SecondFactor,
        RecoveryCode,
        MfaChallenge,
        OidcClient,
        SigningKey,
    ],
    migration_dependencies=[],
    commands=[],
)
