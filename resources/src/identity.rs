//! Who the caller is (STS GetCallerIdentity): the account guard and `${account_id}` need it.

use cairn_engine::provider::ProviderError;

use crate::aws::AwsContext;
use crate::error::SdkResultExt;

/// The caller's account id and principal ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

pub async fn caller_identity(ctx: &AwsContext) -> Result<CallerIdentity, ProviderError> {
    let sts = aws_sdk_sts::Client::new(&ctx.config);
    let out = sts.get_caller_identity().send().await.op("GetCallerIdentity")?;
    Ok(CallerIdentity { account: out.account().unwrap_or_default().to_string(), arn: out.arn().unwrap_or_default().to_string() })
}
