package conformance

var queueChecks, routingChecks, basicChecks, confirmChecks, txChecks []Check
