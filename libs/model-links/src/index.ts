export { ArtefactLinks, createArtefactLinksTable, bytes32 } from './artefact-links';
