"""The process engine: SpiffWorkflow plus Lanes' Camunda 7 flavour. Knows nothing of Flask or SQL."""
from .definitions import ParsedDeployment, ParsedProcess, file_kind, form_ref_of, parse_deployment, referenced_forms
from .problems import DeploymentInvalid, Problem
from .runtime import ProcessError, ProcessRuntime, UserTaskInfo

__all__ = [
    "DeploymentInvalid", "ParsedDeployment", "ParsedProcess", "Problem", "ProcessError", "ProcessRuntime",
    "UserTaskInfo", "file_kind", "form_ref_of", "parse_deployment", "referenced_forms",
]
