//! A kind's IAM actions per operation, declared as one value instead of a match in every kind.

use cairn_engine::provider::Operation;

/// The IAM actions each operation of a kind needs (`ResourceKind::iam_actions`).
#[derive(Debug)]
pub struct IamActions {
    pub read: &'static [&'static str],
    pub create: &'static [&'static str],
    pub update: &'static [&'static str],
    pub delete: &'static [&'static str],
}

impl IamActions {
    pub fn of(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => self.read,
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_gets_its_own_list() {
        static IAM: IamActions = IamActions { read: &["x:Get"], create: &["x:Create"], update: &["x:Put"], delete: &["x:Delete"] };
        assert_eq!(
            [IAM.of(Operation::Read), IAM.of(Operation::Create), IAM.of(Operation::Update), IAM.of(Operation::Delete)],
            [&["x:Get"][..], &["x:Create"][..], &["x:Put"][..], &["x:Delete"][..]]
        );
    }
}
