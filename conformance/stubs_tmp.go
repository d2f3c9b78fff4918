package conformance

var confirmChecks, txChecks []Check
