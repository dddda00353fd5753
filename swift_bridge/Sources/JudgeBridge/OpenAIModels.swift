import Foundation

// The OpenAI-compatible chat completion models of CONTRACTS.md §1 "OpenAI-compatible". Unknown response
// fields are ignored; optional request fields left nil are not sent.

public struct ChatRole: OpenStringValue {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(from decoder: Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static let system = ChatRole(rawValue: "system")
    public static let developer = ChatRole(rawValue: "developer")
    public static let user = ChatRole(rawValue: "user")
    public static let assistant = ChatRole(rawValue: "assistant")
    public static let tool = ChatRole(rawValue: "tool")
}

/// Why a choice stopped: `stop`, `length` or `tool_calls`.
public struct FinishReason: OpenStringValue {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(from decoder: Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static let stop = FinishReason(rawValue: "stop")
    public static let length = FinishReason(rawValue: "length")
    public static let toolCalls = FinishReason(rawValue: "tool_calls")
}

/// A message's content: a string, or text parts.
public enum MessageContent: Codable, Hashable, Sendable {
    case text(String)
    case parts([TextPart])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try container.decode([TextPart].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text):
            try container.encode(text)
        case .parts(let parts):
            try container.encode(parts)
        }
    }

    /// The whole text, parts joined.
    public var plainText: String {
        switch self {
        case .text(let text):
            return text
        case .parts(let parts):
            return parts.map(\.text).joined()
        }
    }
}

public struct TextPart: Codable, Hashable, Sendable {
    public var type: String
    public var text: String

    public init(text: String) {
        self.type = "text"
        self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case type
        case text
    }
}

public struct ChatMessage: Codable, Hashable, Sendable {
    public var role: ChatRole
    public var content: MessageContent?
    public var name: String?
    public var toolCalls: [ToolCall]?
    public var toolCallId: String?

    public init(role: ChatRole, content: MessageContent?, name: String? = nil, toolCalls: [ToolCall]? = nil,
                toolCallId: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    public static func system(_ text: String) -> ChatMessage {
        ChatMessage(role: .system, content: .text(text))
    }

    public static func user(_ text: String) -> ChatMessage {
        ChatMessage(role: .user, content: .text(text))
    }

    public static func assistant(_ text: String) -> ChatMessage {
        ChatMessage(role: .assistant, content: .text(text))
    }

    /// The answer to a tool call.
    public static func tool(_ text: String, callId: String) -> ChatMessage {
        ChatMessage(role: .tool, content: .text(text), toolCallId: callId)
    }

    enum CodingKeys: String, CodingKey {
        case role
        case content
        case name
        case toolCalls = "tool_calls"
        case toolCallId = "tool_call_id"
    }
}

public struct Tool: Codable, Hashable, Sendable {
    public var type: String
    public var function: FunctionDefinition

    public init(function: FunctionDefinition) {
        self.type = "function"
        self.function = function
    }

    enum CodingKeys: String, CodingKey {
        case type
        case function
    }
}

public struct FunctionDefinition: Codable, Hashable, Sendable {
    public var name: String
    public var description: String?
    /// A JSON schema of the arguments.
    public var parameters: JSONValue?
    public var strict: Bool?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil, strict: Bool? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
    }

    enum CodingKeys: String, CodingKey {
        case name
        case description
        case parameters
        case strict
    }
}

/// `none` (spelled `.disabled`, which never reads as `Optional.none`), `auto`, `required`, or one named function.
public enum ToolChoice: Codable, Hashable, Sendable {
    case disabled
    case auto
    case required
    case function(String)

    private struct Named: Codable {
        struct Function: Codable {
            var name: String
        }

        var type: String
        var function: Function
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let mode = try? container.decode(String.self) {
            switch mode {
            case "none":
                self = .disabled
            case "auto":
                self = .auto
            case "required":
                self = .required
            default:
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown tool_choice \(mode)")
            }
        } else {
            self = .function(try container.decode(Named.self).function.name)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .disabled:
            try container.encode("none")
        case .auto:
            try container.encode("auto")
        case .required:
            try container.encode("required")
        case .function(let name):
            try container.encode(Named(type: "function", function: .init(name: name)))
        }
    }
}

public struct ResponseFormat: Codable, Hashable, Sendable {
    /// `text`, `json_object` or `json_schema`
    public var type: String
    public var jsonSchema: JSONSchemaFormat?

    public init(type: String, jsonSchema: JSONSchemaFormat? = nil) {
        self.type = type
        self.jsonSchema = jsonSchema
    }

    public static let text = ResponseFormat(type: "text")
    public static let jsonObject = ResponseFormat(type: "json_object")

    /// Output constrained to `schema` (enforced by the server when `strict`).
    public static func structured(name: String, schema: JSONValue, strict: Bool = true) -> ResponseFormat {
        ResponseFormat(type: "json_schema", jsonSchema: JSONSchemaFormat(name: name, schema: schema, strict: strict))
    }

    enum CodingKeys: String, CodingKey {
        case type
        case jsonSchema = "json_schema"
    }
}

public struct JSONSchemaFormat: Codable, Hashable, Sendable {
    public var name: String
    public var description: String?
    public var schema: JSONValue?
    public var strict: Bool?

    public init(name: String, description: String? = nil, schema: JSONValue? = nil, strict: Bool? = nil) {
        self.name = name
        self.description = description
        self.schema = schema
        self.strict = strict
    }

    enum CodingKeys: String, CodingKey {
        case name
        case description
        case schema
        case strict
    }
}

public struct StreamOptions: Codable, Hashable, Sendable {
    public var includeUsage: Bool

    public init(includeUsage: Bool) {
        self.includeUsage = includeUsage
    }

    enum CodingKeys: String, CodingKey {
        case includeUsage = "include_usage"
    }
}

/// `POST /v1/chat/completions`. `JudgeClient.chatCompletionStream` sets `stream` itself.
public struct ChatCompletionRequest: Codable, Hashable, Sendable {
    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var seed: Int?
    public var stop: [String]?
    public var n: Int?
    public var logprobs: Bool?
    public var topLogprobs: Int?
    public var tools: [Tool]?
    public var toolChoice: ToolChoice?
    public var parallelToolCalls: Bool?
    public var responseFormat: ResponseFormat?
    public var stream: Bool?
    public var streamOptions: StreamOptions?

    public init(model: String, messages: [ChatMessage], maxTokens: Int? = nil, maxCompletionTokens: Int? = nil,
                temperature: Double? = nil, topP: Double? = nil, topK: Int? = nil, minP: Double? = nil,
                seed: Int? = nil, stop: [String]? = nil, n: Int? = nil, logprobs: Bool? = nil,
                topLogprobs: Int? = nil, tools: [Tool]? = nil, toolChoice: ToolChoice? = nil,
                parallelToolCalls: Bool? = nil, responseFormat: ResponseFormat? = nil, stream: Bool? = nil,
                streamOptions: StreamOptions? = nil) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.maxCompletionTokens = maxCompletionTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.seed = seed
        self.stop = stop
        self.n = n
        self.logprobs = logprobs
        self.topLogprobs = topLogprobs
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.responseFormat = responseFormat
        self.stream = stream
        self.streamOptions = streamOptions
    }

    enum CodingKeys: String, CodingKey {
        case model
        case messages
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case temperature
        case topP = "top_p"
        case topK = "top_k"
        case minP = "min_p"
        case seed
        case stop
        case n
        case logprobs
        case topLogprobs = "top_logprobs"
        case tools
        case toolChoice = "tool_choice"
        case parallelToolCalls = "parallel_tool_calls"
        case responseFormat = "response_format"
        case stream
        case streamOptions = "stream_options"
    }
}

// MARK: - Responses

public struct ChatCompletion: Codable, Hashable, Sendable, Identifiable {
    public var id: String
    public var object: String
    /// Unix seconds.
    public var created: Int
    public var model: String
    public var choices: [ChatChoice]
    public var usage: Usage

    enum CodingKeys: String, CodingKey {
        case id
        case object
        case created
        case model
        case choices
        case usage
    }
}

public struct ChatChoice: Codable, Hashable, Sendable {
    public var index: Int
    public var message: AssistantMessage
    public var logprobs: ChoiceLogprobs?
    public var finishReason: FinishReason?

    enum CodingKeys: String, CodingKey {
        case index
        case message
        case logprobs
        case finishReason = "finish_reason"
    }
}

public struct AssistantMessage: Codable, Hashable, Sendable {
    public var role: ChatRole
    public var content: String?
    public var toolCalls: [ToolCall]?

    enum CodingKeys: String, CodingKey {
        case role
        case content
        case toolCalls = "tool_calls"
    }
}

public struct ToolCall: Codable, Hashable, Sendable {
    public var id: String
    public var type: String
    public var function: FunctionCall

    public init(id: String, function: FunctionCall) {
        self.id = id
        self.type = "function"
        self.function = function
    }

    enum CodingKeys: String, CodingKey {
        case id
        case type
        case function
    }
}

public struct FunctionCall: Codable, Hashable, Sendable {
    public var name: String
    /// The arguments as JSON text.
    public var arguments: String

    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey {
        case name
        case arguments
    }
}

public struct Usage: Codable, Hashable, Sendable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    /// Extension: drafted and accepted tokens when speculative decoding ran.
    public var speculative: SpeculativeUsage?

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
        case speculative
    }
}

public struct SpeculativeUsage: Codable, Hashable, Sendable {
    public var draftedTokens: Int
    public var acceptedTokens: Int

    enum CodingKeys: String, CodingKey {
        case draftedTokens = "drafted_tokens"
        case acceptedTokens = "accepted_tokens"
    }
}

public struct ChoiceLogprobs: Codable, Hashable, Sendable {
    public var content: [TokenLogprob]?

    enum CodingKeys: String, CodingKey {
        case content
    }
}

public struct TokenLogprob: Codable, Hashable, Sendable {
    public var token: String
    public var logprob: Double
    public var bytes: [Int]?
    public var topLogprobs: [TopLogprob]

    enum CodingKeys: String, CodingKey {
        case token
        case logprob
        case bytes
        case topLogprobs = "top_logprobs"
    }
}

public struct TopLogprob: Codable, Hashable, Sendable {
    public var token: String
    public var logprob: Double
    public var bytes: [Int]?

    enum CodingKeys: String, CodingKey {
        case token
        case logprob
        case bytes
    }
}

// MARK: - Streaming

/// One `chat.completion.chunk` of a stream. The usage chunk (with `include_usage`) has no choices.
public struct ChatCompletionChunk: Codable, Hashable, Sendable, Identifiable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [ChunkChoice]
    public var usage: Usage?

    enum CodingKeys: String, CodingKey {
        case id
        case object
        case created
        case model
        case choices
        case usage
    }
}

public struct ChunkChoice: Codable, Hashable, Sendable {
    public var index: Int
    public var delta: ChatDelta
    public var logprobs: ChoiceLogprobs?
    public var finishReason: FinishReason?

    enum CodingKeys: String, CodingKey {
        case index
        case delta
        case logprobs
        case finishReason = "finish_reason"
    }
}

/// The first delta carries the role; tool-call deltas carry `index` and, on their first delta, id and name.
public struct ChatDelta: Codable, Hashable, Sendable {
    public var role: ChatRole?
    public var content: String?
    public var toolCalls: [ToolCallDelta]?

    enum CodingKeys: String, CodingKey {
        case role
        case content
        case toolCalls = "tool_calls"
    }
}

public struct ToolCallDelta: Codable, Hashable, Sendable {
    public var index: Int
    public var id: String?
    public var type: String?
    public var function: FunctionDelta?

    enum CodingKeys: String, CodingKey {
        case index
        case id
        case type
        case function
    }
}

public struct FunctionDelta: Codable, Hashable, Sendable {
    public var name: String?
    public var arguments: String?

    enum CodingKeys: String, CodingKey {
        case name
        case arguments
    }
}
