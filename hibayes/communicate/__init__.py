"""Communicators: forest plots, summary tables and the rest of the report."""

from hibayes.communicate.communicators import COMMUNICATORS, CommunicateResult, Communicator, communicate

__all__ = ["COMMUNICATORS", "CommunicateResult", "Communicator", "communicate"]
