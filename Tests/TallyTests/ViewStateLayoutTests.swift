import Foundation
import Testing

@testable import Tally

/// What each ``ViewStateLayout`` makes of a view's state: its tiles, its chain, its fingerprint.
/// A catalog finds a state under the newest layout's fingerprint it has, so a state whose
/// structures changed must have a fingerprint of its own in each layout, and one whose did not
/// the same in all.
@Suite struct ViewStateLayoutTests {
    static let definitions = ViewFixture.definitions

    static func view(_ name: String) -> ViewDefinition {
        definitions.views.first { $0.name == name }!
    }

    static func state(_ name: String, _ layout: ViewStateLayout) -> ViewState {
        let codes = Dictionary(uniqueKeysWithValues: definitions.events.enumerated().map { ($1.name, UInt16($0 + 1)) })
        return ViewState(view(name), code: 1, definitions: definitions, eventCodes: codes, layout: layout)!
    }

    static func prints(_ name: String) -> [String] {
        ViewStateLayout.newestFirst.map { ViewState.fingerprint(view(name), definitions, layout: $0) }
    }

    @Test func aFiniteWindowMinOrMaxStateHasTilesFromSixteenSecondsOnlyInTheCurrentLayout() {
        // low: min over [1s, 60s, 30d]; tiles up to the widest window (30 d ≥ 16^5 s).
        let current = Self.state("low", .current)
        #expect(current.chain == .min)
        #expect(current.tileWidths == [16_000, 256_000, 4_096_000, 65_536_000, 1_048_576_000])
        let second = Self.state("low", .secondTiles)
        #expect(second.chain == .min)
        #expect(second.tileWidths == [1_000] + current.tileWidths)
        let plain = Self.state("low", .plainTiles)
        #expect(plain.chain == nil)
        #expect(plain.tileWidths == second.tileWidths)
        #expect(Set(Self.prints("low")).count == 3, "one fingerprint per layout: \(Self.prints("low"))")
        // unit_max: max over 1h: 16 s and 256 s tiles (4,096 s is wider than the window).
        #expect(Self.state("unit_max", .current).tileWidths == [16_000, 256_000])
    }

    @Test func aLifetimeMinOrMaxStateKeepsOneSecondTilesAndItsFingerprint() {
        // high: max over [60s, 1h, 30d, lifetime]: no chain, every tile width, in every layout.
        for layout in ViewStateLayout.newestFirst {
            let state = Self.state("high", layout)
            #expect(state.chain == nil)
            #expect(state.tileWidths == ViewState.allTileWidths)
        }
        #expect(Set(Self.prints("high")).count == 1)
    }

    @Test func otherStatesChangeOnlyWhereTheirStructuresDid() {
        // A finite-window distinct count gained count tiles after plainTiles; a count never changed.
        let distinct = Self.prints("recent_merchants")
        #expect(distinct[0] == distinct[1] && distinct[1] != distinct[2])
        #expect(Self.state("recent_merchants", .current).tileWidths.first == 1_000, "count tiles stay from 1 s")
        #expect(Self.state("recent_merchants", .plainTiles).tileWidths.isEmpty)
        #expect(Set(Self.prints("cnt")).count == 1)
    }
}
