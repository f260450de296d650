package rdfdiff

// Vocabulary the munger, the shared-node classifier and the sitelink
// reclassifier test against. Terms are built once so that a test is one
// string comparison. They live in one struct value, wv, so that their names
// cannot collide with other files of the package.
const (
	nsWikibaseOntology = "http://wikiba.se/ontology#"
	nsSchemaOrg        = "http://schema.org/"
)

type wikibaseVocab struct {
	RDFType, RDFSLabel, SKOSPrefLabel, ProvWasDerivedFrom         Term
	SchemaAbout, SchemaArticle, SchemaIsPartOf, SchemaName        Term
	SchemaVersion, SchemaDateModified                             Term
	OntolexLexicalForm, OntolexSense                              Term
	WikibaseItem, WikibaseLexeme, WikibaseForm, WikibaseSense     Term
	WikibaseStatement, WikibaseReference, WikibaseWikiGroup       Term
	WikibaseQuantityNormalized, WikibaseHasViolationForConstraint Term
	WikibaseDump                                                  Term
}

var wv = wikibaseVocab{
	RDFType:            NewIRI(RDFType),
	RDFSLabel:          NewIRI("http://www.w3.org/2000/01/rdf-schema#label"),
	SKOSPrefLabel:      NewIRI("http://www.w3.org/2004/02/skos/core#prefLabel"),
	ProvWasDerivedFrom: NewIRI("http://www.w3.org/ns/prov#wasDerivedFrom"),

	SchemaAbout:        NewIRI(nsSchemaOrg + "about"),
	SchemaArticle:      NewIRI(nsSchemaOrg + "Article"),
	SchemaIsPartOf:     NewIRI(nsSchemaOrg + "isPartOf"),
	SchemaName:         NewIRI(nsSchemaOrg + "name"),
	SchemaVersion:      NewIRI(nsSchemaOrg + "version"),
	SchemaDateModified: NewIRI(nsSchemaOrg + "dateModified"),

	OntolexLexicalForm: NewIRI("http://www.w3.org/ns/lemon/ontolex#lexicalForm"),
	OntolexSense:       NewIRI("http://www.w3.org/ns/lemon/ontolex#sense"),

	WikibaseItem:                      NewIRI(nsWikibaseOntology + "Item"),
	WikibaseLexeme:                    NewIRI(nsWikibaseOntology + "Lexeme"),
	WikibaseForm:                      NewIRI(nsWikibaseOntology + "Form"),
	WikibaseSense:                     NewIRI(nsWikibaseOntology + "Sense"),
	WikibaseStatement:                 NewIRI(nsWikibaseOntology + "Statement"),
	WikibaseReference:                 NewIRI(nsWikibaseOntology + "Reference"),
	WikibaseWikiGroup:                 NewIRI(nsWikibaseOntology + "wikiGroup"),
	WikibaseQuantityNormalized:        NewIRI(nsWikibaseOntology + "quantityNormalized"),
	WikibaseHasViolationForConstraint: NewIRI(nsWikibaseOntology + "hasViolationForConstraint"),
	WikibaseDump:                      NewIRI(nsWikibaseOntology + "Dump"),
}

// isSkippedEntityType reports whether o is one of the entity types WDQS
// drops from entity subjects (Munger.SKIPPED_TYPES): wikibase:Item,
// wikibase:Lexeme, wikibase:Form, wikibase:Sense. wikibase:Property and
// wikibase:Mediainfo are kept, as WDQS keeps them.
func isSkippedEntityType(o Term) bool {
	return o == wv.WikibaseItem || o == wv.WikibaseLexeme || o == wv.WikibaseForm || o == wv.WikibaseSense
}
