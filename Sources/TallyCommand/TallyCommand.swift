import ArgumentParser

@main
struct TallyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "A decision-coherent context store on LMDB.",
        subcommands: [
            Check.self, Apply.self, Ingest.self, Get.self, Decide.self, Replay.self, Export.self, Catalog.self,
            Generate.self, Stats.self, Backup.self,
            Doctor.self,
            Serve.self, Tokens.self, Demo.self,
        ])
}
