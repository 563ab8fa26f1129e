import Logging

/// Makes unary gRPC calls whose request is an ``EncodedRequest`` (its body already
/// framed by ``GRPCMessage``) and maps the call's status to a ``DeliveryOutcome``:
/// the OTLP/gRPC exporter's counterpart of ``HTTPPoster``.
struct GRPCCaller: Sendable {
    /// The endpoint's base URL plus the method, e.g.
    /// `http://localhost:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
    var url: String
    var headers: [(String, String)]
    var client: HTTPClient
    /// `tls.ca_file`: the CA certificates that verify the server instead of the system's.
    var caFile: String?
    var logger: Logger
    /// What the method's response counts in its `partial_success`.
    var partialSuccessItems: OTLPPartialSuccess.Items

    func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
        let response: HTTPResponse
        do {
            // grpc-timeout tells the server the deadline, so that it stops working on a call
            // the client has given up on.
            response = try client.post(url: url, headers: headers + [("grpc-timeout", Self.timeoutValue(timeout))],
                                       body: request.body, timeout: timeout, version: .http2, caFile: caFile)
        } catch {
            // Empty reply (52), HTTP/2 framing (16), weird reply (8): what an HTTP/1.1 server
            // (an OTLP/HTTP port) does with an HTTP/2 connection preface. Send failure (55)
            // and receive reset (56): the same server closing while curl still writes the
            // preface; a gRPC server that crashes does it too, so that hint says "may".
            let hint: String
            switch error.code {
            case 52, 16, 8: hint = "; the endpoint does not speak HTTP/2 as gRPC needs (an OTLP/HTTP port such as 4318?)"
            case 55, 56: hint = "; the endpoint closed the connection: it may not speak HTTP/2 as gRPC needs (an OTLP/HTTP port such as 4318?)"
            default: hint = ""
            }
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: nil, reason: "\(url): \(error)\(hint)")
        }
        guard let status = GRPCStatus(response) else {
            return missingStatus(response, request: request)
        }
        if status.code == .ok {
            reportPartialSuccess(response)
            return .finished(sent: request.items, rejected: 0)
        }
        if status.isRetryable {
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: status.retryDelay,
                          reason: "\(url) answered gRPC \(status)")
        }
        var metadata: Logger.Metadata = ["url": "\(url)", "grpc_status": "\(status.code)", "message": "\(status.message)"]
        if status.code == .resourceExhausted {
            metadata["note"] = "RESOURCE_EXHAUSTED is retried only when the server sends a RetryInfo (OTLP/gRPC)"
        }
        logger.error("the server refused the request; not retrying", metadata: metadata)
        return .finished(sent: 0, rejected: request.items)
    }

    /// `grpc-timeout`'s value: at most 8 digits and a unit (gRPC over HTTP/2), so the
    /// finest unit that fits, rounded up.
    static func timeoutValue(_ timeout: Duration) -> String {
        // Clamped before the conversion: a duration of Int64.max seconds is valid.
        var value = max(1, Int64(min(timeout.seconds * 1000, 1e15).rounded(.up)))
        for (unit, next) in [("m", 1000), ("S", 60), ("M", 60)] as [(String, Int64)] {
            if value <= 99_999_999 { return "\(value)\(unit)" }
            value = (value + next - 1) / next
        }
        return "\(min(value, 99_999_999))H"
    }

    /// A response without `grpc-status`: not a gRPC server, a proxy's own error, or a body
    /// cut before the trailers. The HTTP status decides as gRPC maps it (429, 502, 503 and
    /// 504 are UNAVAILABLE, so retried); anything else is refused and logged with the cause.
    private func missingStatus(_ response: HTTPResponse, request: EncodedRequest) -> DeliveryOutcome<EncodedRequest> {
        var cause = "the response has no grpc-status (HTTP \(response.status), content-type "
            + "\(response.headers["content-type"] ?? "none"))"
        if response.bodyTruncated {
            cause += "; \(response.truncationNote), so its trailers were not read"
        } else if response.headers["content-type"]?.hasPrefix("application/grpc") != true {
            cause += "; the endpoint does not look like a gRPC server (is it an OTLP/HTTP port such as 4318?)"
        }
        if [429, 502, 503, 504].contains(response.status) {
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: response.retryAfter,
                          reason: "\(url): \(cause)")
        }
        logger.error("the server's answer is not a gRPC status; not retrying", metadata: [
            "url": "\(url)", "cause": "\(cause)", "response": "\(response.bodySummary)",
        ])
        return .finished(sent: 0, rejected: request.items)
    }

    /// Logs the `partial_success` of an OK response's message, as OTLP asks; the request
    /// still counts as sent.
    private func reportPartialSuccess(_ response: HTTPResponse) {
        guard let (compressed, message) = GRPCMessage.first(in: response.body) else { return }
        guard !compressed else {
            // tandem offers only identity for responses (grpc-accept-encoding), so this is rare.
            logger.debug("the OK response is compressed; its partial_success is not read", metadata: ["url": "\(url)"])
            return
        }
        guard let partial = OTLPPartialSuccess(body: Array(message), contentType: nil, items: partialSuccessItems) else {
            return
        }
        logger.warning("the receiver refused some \(partialSuccessItems.rawValue.replacingOccurrences(of: "_", with: " "))", metadata: [
            "url": "\(url)", "rejected_\(partialSuccessItems.rawValue)": "\(partial.rejected)",
            "message": "\(partial.errorMessage)",
        ])
    }
}
