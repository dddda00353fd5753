import Foundation

// The CAWS wire models of CONTRACTS.md §1 "CAWS". Wire names are spelled in explicit snake_case
// `CodingKeys`; keys a model does not know are ignored when decoding, so the service may add fields.

/// A string-valued status the service may extend: decoding never fails on a value this version does not know.
/// Each conforming type codes itself as a single string (explicitly, rather than through whichever default
/// implementation of `RawRepresentable` or derived `Codable` the compiler would pick).
public protocol OpenStringValue: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible
where RawValue == String {
    init(rawValue: String)
}

extension OpenStringValue {
    public var description: String {
        rawValue
    }
}

/// The status of a verdict or of one candidate: `PASS`, `WAIVER_REQUIRED` or `FAIL`.
public struct VerdictStatus: OpenStringValue {
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

    public static let pass = VerdictStatus(rawValue: "PASS")
    public static let waiverRequired = VerdictStatus(rawValue: "WAIVER_REQUIRED")
    public static let fail = VerdictStatus(rawValue: "FAIL")
}

// MARK: - Requests

/// Measured gate results of one plea (`arbiter/schemas/gate_results.schema.json`).
public struct GateResults: Codable, Hashable, Sendable {
    public var testsPass: Bool?
    public var lintPass: Bool?
    public var coverageBranch: Double?
    public var mutationScore: Double?
    public var contracts: ContractResults?
    public var manualReview: ManualReview?

    public init(testsPass: Bool? = nil, lintPass: Bool? = nil, coverageBranch: Double? = nil,
                mutationScore: Double? = nil, contracts: ContractResults? = nil, manualReview: ManualReview? = nil) {
        self.testsPass = testsPass
        self.lintPass = lintPass
        self.coverageBranch = coverageBranch
        self.mutationScore = mutationScore
        self.contracts = contracts
        self.manualReview = manualReview
    }

    enum CodingKeys: String, CodingKey {
        case testsPass = "tests_pass"
        case lintPass = "lint_pass"
        case coverageBranch = "coverage_branch"
        case mutationScore = "mutation_score"
        case contracts
        case manualReview = "manual_review"
    }
}

public struct ContractResults: Codable, Hashable, Sendable {
    public var consumer: Bool?
    public var provider: Bool?

    public init(consumer: Bool? = nil, provider: Bool? = nil) {
        self.consumer = consumer
        self.provider = provider
    }

    enum CodingKeys: String, CodingKey {
        case consumer
        case provider
    }
}

public struct ManualReview: Codable, Hashable, Sendable {
    public var approvedBy: String?
    public var approvedAt: Date?

    public init(approvedBy: String? = nil, approvedAt: Date? = nil) {
        self.approvedBy = approvedBy
        self.approvedAt = approvedAt
    }

    enum CodingKeys: String, CodingKey {
        case approvedBy = "approved_by"
        case approvedAt = "approved_at"
    }
}

/// What a plea offers as proof (`arbiter/schemas/evidence_manifest.schema.json`).
public struct EvidenceManifest: Codable, Hashable, Sendable {
    public var manifestId: String
    public var changeId: String
    public var evidenceItems: [EvidenceItem]
    public var artifacts: [EvidenceArtifact]?
    public var overallQuality: Double?
    public var createdAt: Date?

    public init(manifestId: String, changeId: String, evidenceItems: [EvidenceItem],
                artifacts: [EvidenceArtifact]? = nil, overallQuality: Double? = nil, createdAt: Date? = nil) {
        self.manifestId = manifestId
        self.changeId = changeId
        self.evidenceItems = evidenceItems
        self.artifacts = artifacts
        self.overallQuality = overallQuality
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case manifestId = "manifest_id"
        case changeId = "change_id"
        case evidenceItems = "evidence_items"
        case artifacts
        case overallQuality = "overall_quality"
        case createdAt = "created_at"
    }
}

public struct EvidenceItem: Codable, Hashable, Sendable {
    /// test_result, code_diff, documentation, benchmark_result, lint_report, coverage_report, manual_review,
    /// external_reference
    public var evidenceId: String
    public var type: String
    public var content: String
    /// verified, unverified or insufficient
    public var verificationStatus: String
    public var qualityScore: Double?
    public var source: String?

    public init(evidenceId: String, type: String, content: String, verificationStatus: String,
                qualityScore: Double? = nil, source: String? = nil) {
        self.evidenceId = evidenceId
        self.type = type
        self.content = content
        self.verificationStatus = verificationStatus
        self.qualityScore = qualityScore
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case evidenceId = "evidence_id"
        case type
        case content
        case verificationStatus = "verification_status"
        case qualityScore = "quality_score"
        case source
    }
}

/// A machine-readable report named by a manifest; `value` carries the field read at `jsonPath`.
public struct EvidenceArtifact: Codable, Hashable, Sendable {
    public var artifactId: String?
    public var type: String
    public var path: String
    public var jsonPath: String?
    public var value: JSONValue?

    public init(artifactId: String? = nil, type: String, path: String, jsonPath: String? = nil,
                value: JSONValue? = nil) {
        self.artifactId = artifactId
        self.type = type
        self.path = path
        self.jsonPath = jsonPath
        self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case artifactId = "artifact_id"
        case type
        case path
        case jsonPath = "json_path"
        case value
    }
}

/// One plea among several candidates of a change.
public struct CandidatePlea: Codable, Hashable, Sendable {
    public var candidateId: String
    public var diff: String
    public var rationale: String
    public var evidenceManifest: EvidenceManifest
    public var gateResults: GateResults

    public init(candidateId: String, diff: String, rationale: String, evidenceManifest: EvidenceManifest,
                gateResults: GateResults) {
        self.candidateId = candidateId
        self.diff = diff
        self.rationale = rationale
        self.evidenceManifest = evidenceManifest
        self.gateResults = gateResults
    }

    enum CodingKeys: String, CodingKey {
        case candidateId = "candidate_id"
        case diff
        case rationale
        case evidenceManifest = "evidence_manifest"
        case gateResults = "gate_results"
    }
}

/// `POST /caws/adjudicate`: one plea at top level or 1 to 8 `candidates`, never both.
public struct AdjudicateRequest: Codable, Hashable, Sendable {
    public var changeId: String
    /// The CAWS working spec: an object, or its YAML text as a string.
    public var workingSpec: JSONValue
    public var diff: String?
    public var rationale: String?
    public var evidenceManifest: EvidenceManifest?
    public var gateResults: GateResults?
    public var candidates: [CandidatePlea]?
    public var waiverIds: [String]?
    /// The time the verdict is decided at; the server's clock when nil.
    public var now: Date?

    /// One plea.
    public init(changeId: String, workingSpec: JSONValue, diff: String, rationale: String,
                evidenceManifest: EvidenceManifest, gateResults: GateResults, waiverIds: [String]? = nil,
                now: Date? = nil) {
        self.changeId = changeId
        self.workingSpec = workingSpec
        self.diff = diff
        self.rationale = rationale
        self.evidenceManifest = evidenceManifest
        self.gateResults = gateResults
        self.candidates = nil
        self.waiverIds = waiverIds
        self.now = now
    }

    /// Several candidate pleas of one change; the best status wins.
    public init(changeId: String, workingSpec: JSONValue, candidates: [CandidatePlea], waiverIds: [String]? = nil,
                now: Date? = nil) {
        self.changeId = changeId
        self.workingSpec = workingSpec
        self.diff = nil
        self.rationale = nil
        self.evidenceManifest = nil
        self.gateResults = nil
        self.candidates = candidates
        self.waiverIds = waiverIds
        self.now = now
    }

    enum CodingKeys: String, CodingKey {
        case changeId = "change_id"
        case workingSpec = "working_spec"
        case diff
        case rationale
        case evidenceManifest = "evidence_manifest"
        case gateResults = "gate_results"
        case candidates
        case waiverIds = "waiver_ids"
        case now
    }
}

// MARK: - Verdict

/// The verdict record (CONTRACTS.md §2.5), as `POST /caws/adjudicate` and `GET /caws/verdicts/{id}` return it.
public struct Verdict: Codable, Hashable, Sendable, Identifiable {
    public var verdictId: String
    public var status: VerdictStatus
    public var timestamp: Date
    public var changeId: String
    public var specId: String
    public var riskTier: Int
    public var cawsCompliance: CAWSCompliance
    public var violations: [Violation]
    public var waiverInfo: [WaiverInfo]
    public var clauseMappings: [ClauseMapping]
    public var evidenceQuality: Double
    /// 0 to 100; an applied waiver caps it at 79.
    public var trustScore: Int
    public var winnerCandidateId: String
    public var candidates: [CandidateOutcome]
    public var arbiterReasoning: String
    public var provenance: Provenance
    public var models: VerdictModels
    public var policySha256: String

    public var id: String {
        verdictId
    }

    enum CodingKeys: String, CodingKey {
        case verdictId = "verdict_id"
        case status
        case timestamp
        case changeId = "change_id"
        case specId = "spec_id"
        case riskTier = "risk_tier"
        case cawsCompliance = "caws_compliance"
        case violations
        case waiverInfo = "waiver_info"
        case clauseMappings = "clause_mappings"
        case evidenceQuality = "evidence_quality"
        case trustScore = "trust_score"
        case winnerCandidateId = "winner_candidate_id"
        case candidates
        case arbiterReasoning = "arbiter_reasoning"
        case provenance
        case models
        case policySha256 = "policy_sha256"
    }
}

public struct CAWSCompliance: Codable, Hashable, Sendable {
    public var budgetAdherence: BudgetAdherence
    public var gateIntegrity: GateIntegrity
    public var provenanceClarity: ProvenanceClarity

    enum CodingKeys: String, CodingKey {
        case budgetAdherence = "budget_adherence"
        case gateIntegrity = "gate_integrity"
        case provenanceClarity = "provenance_clarity"
    }
}

public struct BudgetAdherence: Codable, Hashable, Sendable {
    public var maxFiles: Int
    public var maxLoc: Int
    public var actualFiles: Int
    public var actualLoc: Int
    public var withinBudget: Bool

    enum CodingKeys: String, CodingKey {
        case maxFiles = "max_files"
        case maxLoc = "max_loc"
        case actualFiles = "actual_files"
        case actualLoc = "actual_loc"
        case withinBudget = "within_budget"
    }
}

public struct GateIntegrity: Codable, Hashable, Sendable {
    public var testsPass: Bool
    public var lintPass: Bool
    public var coveragePass: Bool
    public var allGatesPass: Bool

    enum CodingKeys: String, CodingKey {
        case testsPass = "tests_pass"
        case lintPass = "lint_pass"
        case coveragePass = "coverage_pass"
        case allGatesPass = "all_gates_pass"
    }
}

public struct ProvenanceClarity: Codable, Hashable, Sendable {
    public var rationalePresent: Bool
    public var evidenceManifestPresent: Bool
    public var diffPresent: Bool
    public var alignmentScore: Double

    enum CodingKeys: String, CodingKey {
        case rationalePresent = "rationale_present"
        case evidenceManifestPresent = "evidence_manifest_present"
        case diffPresent = "diff_present"
        case alignmentScore = "alignment_score"
    }
}

/// A violated gate; `waivedBy` names the waiver that covers it, if any.
public struct Violation: Codable, Hashable, Sendable {
    public var gate: String
    public var message: String
    public var waivable: Bool
    public var waivedBy: String?

    enum CodingKeys: String, CodingKey {
        case gate
        case message
        case waivable
        case waivedBy = "waived_by"
    }
}

public struct WaiverInfo: Codable, Hashable, Sendable {
    public var waiverId: String
    public var applied: Bool
    public var gates: [String]
    public var reason: String
    public var expiresAt: Date

    enum CodingKeys: String, CodingKey {
        case waiverId = "waiver_id"
        case applied
        case gates
        case reason
        case expiresAt = "expires_at"
    }
}

public struct ClauseMapping: Codable, Hashable, Sendable {
    public var cawsClause: String
    public var relevanceScore: Double

    enum CodingKeys: String, CodingKey {
        case cawsClause = "caws_clause"
        case relevanceScore = "relevance_score"
    }
}

public struct CandidateOutcome: Codable, Hashable, Sendable {
    public var candidateId: String
    public var status: VerdictStatus
    public var judgeScore: Double
    public var superseded: Bool

    enum CodingKeys: String, CodingKey {
        case candidateId = "candidate_id"
        case status
        case judgeScore = "judge_score"
        case superseded
    }
}

/// The verdict's link in the service's SHA-256 hash chain.
public struct Provenance: Codable, Hashable, Sendable {
    public var entryHash: String
    public var previousHash: String

    enum CodingKeys: String, CodingKey {
        case entryHash = "entry_hash"
        case previousHash = "previous_hash"
    }
}

public struct VerdictModels: Codable, Hashable, Sendable {
    /// The sha256 of the Judge artifact that scored the plea; nil when no Judge was loaded.
    public var judge: String?

    enum CodingKeys: String, CodingKey {
        case judge
    }
}

// MARK: - Claimify

/// `POST /caws/claimify`: the checkable claims of a text, verified against a manifest when one is given.
public struct ClaimifyRequest: Codable, Hashable, Sendable {
    public var text: String
    public var context: ClaimContext?
    public var evidenceManifest: EvidenceManifest?

    public init(text: String, context: ClaimContext? = nil, evidenceManifest: EvidenceManifest? = nil) {
        self.text = text
        self.context = context
        self.evidenceManifest = evidenceManifest
    }

    enum CodingKeys: String, CodingKey {
        case text
        case context
        case evidenceManifest = "evidence_manifest"
    }
}

/// What a sentence may be resolved against besides the text before it.
public struct ClaimContext: Codable, Hashable, Sendable {
    public var priorText: String?
    public var change: String?
    public var references: [String: String]?

    public init(priorText: String? = nil, change: String? = nil, references: [String: String]? = nil) {
        self.priorText = priorText
        self.change = change
        self.references = references
    }

    enum CodingKeys: String, CodingKey {
        case priorText = "prior_text"
        case change
        case references
    }
}

public struct ClaimifyResponse: Codable, Hashable, Sendable {
    public var sentences: [ClaimSentence]
    public var claims: [Claim]
    public var configFingerprint: String

    enum CodingKeys: String, CodingKey {
        case sentences
        case claims
        case configFingerprint = "config_fingerprint"
    }
}

public struct ClaimSentence: Codable, Hashable, Sendable {
    public var text: String
    public var selected: Bool
    public var selectionReason: String
    public var disambiguation: Disambiguation
    /// Ids of the claims drawn from this sentence (`C1`, `C2`, ...).
    public var claims: [String]

    enum CodingKeys: String, CodingKey {
        case text
        case selected
        case selectionReason = "selection_reason"
        case disambiguation
        case claims
    }
}

public struct Disambiguation: Codable, Hashable, Sendable {
    /// no_ambiguity, resolved, cannot_disambiguate or not_selected
    public var status: String
    public var reason: String?
    public var text: String?

    enum CodingKeys: String, CodingKey {
        case status
        case reason
        case text
    }
}

public struct Claim: Codable, Hashable, Sendable, Identifiable {
    public var id: String
    public var statement: String
    public var sourceSentence: String
    /// Present when the request carried an evidence manifest.
    public var verification: ClaimVerification?

    enum CodingKeys: String, CodingKey {
        case id
        case statement
        case sourceSentence = "source_sentence"
        case verification
    }
}

public struct ClaimVerification: Codable, Hashable, Sendable {
    /// VERIFIED, UNVERIFIED or INSUFFICIENT_EVIDENCE
    public var status: String
    public var outcomeId: Int
    public var categories: [String]
    public var policyGate: PolicyGate
    public var cMax: String
    public var evidence: ClaimEvidence
    public var entailmentTriage: EntailmentTriage
    public var elementCoverage: Double
    public var negationMismatch: Bool
    public var trail: [String]
    public var fingerprint: String

    enum CodingKeys: String, CodingKey {
        case status
        case outcomeId = "outcome_id"
        case categories
        case policyGate = "policy_gate"
        case cMax = "c_max"
        case evidence
        case entailmentTriage = "entailment_triage"
        case elementCoverage = "element_coverage"
        case negationMismatch = "negation_mismatch"
        case trail
        case fingerprint
    }
}

public struct PolicyGate: Codable, Hashable, Sendable {
    public var passed: Bool
    public var reasons: [String]

    enum CodingKeys: String, CodingKey {
        case passed
        case reasons
    }
}

public struct ClaimEvidence: Codable, Hashable, Sendable {
    public var c: [String]
    public var cMax: [String]

    enum CodingKeys: String, CodingKey {
        case c
        case cMax = "c_max"
    }
}

public struct EntailmentTriage: Codable, Hashable, Sendable {
    public var support: Double
    public var contradict: Double
    public var insufficient: Double

    enum CodingKeys: String, CodingKey {
        case support
        case contradict
        case insufficient
    }
}

// MARK: - Judge

/// The CAWS clauses the Judge scores, in the order of its clause head (`arbiter.judge.CLAUSES`).
public let judgeClauses: [String] = [
    "EVIDENCE_COMPLETENESS",
    "BUDGET_ADHERENCE",
    "GATE_INTEGRITY",
    "PROVENANCE_CLARITY",
    "WAIVER_JUSTIFICATION",
]

/// `POST /caws/judge/score`.
public struct JudgeScoreRequest: Codable, Hashable, Sendable {
    public var prompt: String
    public var candidate: String

    public init(prompt: String, candidate: String) {
        self.prompt = prompt
        self.candidate = candidate
    }

    enum CodingKeys: String, CodingKey {
        case prompt
        case candidate
    }
}

/// The Judge's score in [0, 1] and one probability per CAWS clause.
public struct JudgeScore: Codable, Hashable, Sendable {
    public var score: Double
    public var clauses: [String: Double]

    public init(score: Double, clauses: [String: Double]) {
        self.score = score
        self.clauses = clauses
    }

    enum CodingKeys: String, CodingKey {
        case score
        case clauses
    }
}

/// `POST /caws/judge/compare`.
public struct JudgeCompareRequest: Codable, Hashable, Sendable {
    public var prompt: String
    public var a: String
    public var b: String

    public init(prompt: String, a: String, b: String) {
        self.prompt = prompt
        self.a = a
        self.b = b
    }

    enum CodingKeys: String, CodingKey {
        case prompt
        case a
        case b
    }
}

/// Which candidate the Judge prefers: `A`, `B` or `TIE`.
public struct ComparisonVerdict: OpenStringValue {
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

    public static let a = ComparisonVerdict(rawValue: "A")
    public static let b = ComparisonVerdict(rawValue: "B")
    public static let tie = ComparisonVerdict(rawValue: "TIE")
}

public struct JudgeComparison: Codable, Hashable, Sendable {
    public var verdict: ComparisonVerdict
    public var a: JudgeScore
    public var b: JudgeScore

    public init(verdict: ComparisonVerdict, a: JudgeScore, b: JudgeScore) {
        self.verdict = verdict
        self.a = a
        self.b = b
    }

    enum CodingKeys: String, CodingKey {
        case verdict
        case a
        case b
    }
}
