import Foundation

/// The OpenAI error object every error response of the service carries:
/// `{"error": {"message", "type", "param", "code"}}` (CONTRACTS.md §1).
public struct APIErrorObject: Codable, Hashable, Sendable {
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(message: String, type: String, param: String? = nil, code: String? = nil) {
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    enum CodingKeys: String, CodingKey {
        case message
        case type
        case param
        case code
    }
}

/// The body of an error response.
public struct APIErrorResponse: Codable, Hashable, Sendable {
    public var error: APIErrorObject

    public init(error: APIErrorObject) {
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case error
    }
}

/// Everything a `JudgeClient` call can throw.
public enum JudgeBridgeError: Error, Sendable {
    /// The service answered with an error status; `error` is its decoded error object (or, for a body that
    /// is not one, a synthesized object holding the body's text). `retryAfter` is the `Retry-After` delay.
    case api(status: Int, error: APIErrorObject, retryAfter: TimeInterval?)
    /// The request never got an HTTP answer (no connection, timeout, cancelled).
    case transport(URLError)
    /// A 2xx body that does not decode into the expected model.
    case decoding(type: String, description: String, body: Data)
    /// A response that is not HTTP.
    case invalidResponse
    /// A server-sent event stream that broke its format.
    case stream(String)

    /// The HTTP status of an `.api` error.
    public var status: Int? {
        if case .api(let status, _, _) = self {
            return status
        }
        return nil
    }

    /// Whether the same request may succeed later: rate limited (429) or not ready / queue full (503).
    public var isRetryable: Bool {
        guard let status else {
            return false
        }
        return status == 429 || status == 503
    }
}

extension JudgeBridgeError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .api(let status, let error, _):
            let code = error.code.map { " (\($0))" } ?? ""
            return "HTTP \(status) \(error.type)\(code): \(error.message)"
        case .transport(let error):
            return "transport error: \(error.localizedDescription)"
        case .decoding(let type, let description, _):
            return "cannot decode \(type): \(description)"
        case .invalidResponse:
            return "the response is not an HTTP response"
        case .stream(let message):
            return "event stream error: \(message)"
        }
    }
}
