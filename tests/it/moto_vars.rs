//! The platform stack's variables for running it against moto, which lacks parts of AWS.

/// `--var` arguments that make stacks/platform.yaml fit what moto 5.2.5 implements: it serves
/// plain http and enforces bucket policies (no TLS-only policy), stores no Performance Insights
/// settings, reports every EKS cluster as CONFIG_MAP (dev has no access entries), and has no AWS
/// Backup selections, EKS add-ons or Pod Identity.
pub const PLATFORM_ON_MOTO: [&str; 10] = [
    "--var",
    "enforce_tls=false",
    "--var",
    "db_performance_insights=false",
    "--var",
    "cluster_authentication_mode=CONFIG_MAP",
    "--var",
    "backup_selection=0",
    "--var",
    "eks_addons=0",
];
