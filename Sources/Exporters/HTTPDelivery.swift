import Foundation
import Logging

/// How an exporter treats an HTTP response status.
enum HTTPStatusClass: Equatable {
    case success
    /// 429 and 5xx: try again, after `Retry-After` if the server gave one.
    case retriable(retryAfter: Duration?)
    /// Any other status: the server will not take this request.
    case rejected
}

extension HTTPResponse {
    var statusClass: HTTPStatusClass {
        switch status {
        case 200..<300: return .success
        case 429, 500..<600: return .retriable(retryAfter: retryAfter)
        default: return .rejected
        }
    }

    /// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
    var retryAfter: Duration? {
        guard let value = headers["retry-after"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .seconds(max(0, date.timeIntervalSinceNow))
    }

    /// The start of the body, for log messages about a refused request.
    var bodySummary: String {
        let text = bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        let summary = text.count > 512 ? String(text.prefix(512)) + "…" : text
        return bodyTruncated ? summary + " (\(truncationNote))" : summary
    }

    /// Why a body is incomplete, for logs and errors.
    var truncationNote: String {
        "the response body was longer than the \(body.count) bytes the exporter reads; the rest was not read and the connection was closed"
    }
}

/// One request of the simple HTTP exporters (`otlphttp`, `prometheusremotewrite`):
/// a body that is accepted or refused as a whole.
struct EncodedRequest: Sendable {
    var body: [UInt8]
    var items: Int
}

/// POSTs whole requests and maps the status to a ``DeliveryOutcome``.
struct HTTPPoster: Sendable {
    var url: String
    var headers: [(String, String)]
    var client: HTTPClient
    var logger: Logger
    /// Read an OTLP `partial_success` counting these items from 2xx responses; nil: do not.
    var partialSuccessItems: OTLPPartialSuccess.Items?

    func attempt(_ request: EncodedRequest, timeout: Duration) -> DeliveryOutcome<EncodedRequest> {
        let response: HTTPResponse
        do {
            response = try client.post(url: url, headers: headers, body: request.body, timeout: timeout)
        } catch {
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: nil, reason: "\(url): \(error)")
        }
        switch response.statusClass {
        case .success:
            if response.bodyTruncated {
                // The request was accepted; only the answer is unusual (a misconfigured endpoint?).
                logger.warning("the server accepted the request but answered with an oversize body", metadata: [
                    "url": "\(url)", "status": "\(response.status)", "detail": "\(response.truncationNote)",
                ])
            }
            if let items = partialSuccessItems, !response.bodyTruncated,
               let partial = OTLPPartialSuccess(body: response.body, contentType: response.headers["content-type"], items: items) {
                // The request counts as sent; the refused items are reported, as OTLP asks.
                logger.warning("the receiver refused some \(items.rawValue.replacingOccurrences(of: "_", with: " "))", metadata: [
                    "url": "\(url)", "rejected_\(items.rawValue)": "\(partial.rejected)",
                    "message": "\(partial.errorMessage)",
                ])
            }
            return .finished(sent: request.items, rejected: 0)
        case .retriable(let retryAfter):
            return .retry(remaining: request, sent: 0, rejected: 0, retryAfter: retryAfter,
                          reason: "\(url) answered HTTP \(response.status): \(response.bodySummary)")
        case .rejected:
            logger.error("the server refused the request; not retrying", metadata: [
                "url": "\(url)", "status": "\(response.status)", "response": "\(response.bodySummary)",
            ])
            return .finished(sent: 0, rejected: request.items)
        }
    }
}
