package conformance

var basicChecks, confirmChecks, txChecks []Check
