import ReadingListModel

/// Detects copies of one replica that wrote different changes under the same dots.
///
/// Version vectors alone cannot see it: both copies claim "replica r, up to
/// change n". So each side of a session sends the digest of its latest known
/// change of every replica (its heads), and the other compares the digest it
/// holds for the same dot. A difference means two databases wrote with one
/// replica id; the session stops before anything is exchanged.
public enum ForkCheck {
    /// A replica's latest known change, by its digest.
    public struct Head: Sendable, Hashable, Codable {
        package var dot: Dot
        package var digest: UInt64

        package init(dot: Dot, digest: UInt64) {
            self.dot = dot
            self.digest = digest
        }

        private enum CodingKeys: String, CodingKey { case dot, digest }

        /// Decodes a head as the sync protocol writes it.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            dot = try container.decode(Dot.self, forKey: .dot)
            digest = try DigestCoding.decode(container, forKey: .digest)
        }

        /// Encodes a head as the sync protocol writes it.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(dot, forKey: .dot)
            try container.encode(DigestCoding.encode(digest), forKey: .digest)
        }
    }

    /// Compares the remote's heads with the local digests of the same dots
    /// (`localDigest` returns nil where the local side cannot tell).
    package static func check(remoteHeads: [Head], localDigest: (Dot) throws -> UInt64?) throws -> Void {
        for head in remoteHeads where !Mutant.is(.copiedReplicaAccepted) {
            if let local = try localDigest(head.dot), local != head.digest {
                throw SyncError.conflictingDuplicate(head.dot)
            }
        }
    }
}
