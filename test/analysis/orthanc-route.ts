/** The Lua OnStoredInstance script with which Orthanc (the hospital PACS) routes hand radiographs to carpus. */
export const ROUTE_LUA = `
-- Route new hand radiographs to carpus (never carpus's own results back).
function OnStoredInstance(instanceId, tags, metadata, origin)
  if origin['RequestOrigin'] == 'Lua' then return end
  if (tags['Manufacturer'] or '') == 'carpus' then return end
  local modality = tags['Modality'] or ''
  if modality ~= 'CR' and modality ~= 'DX' and modality ~= 'DR' then return end
  local body = string.upper(tags['BodyPartExamined'] or '')
  if body ~= '' and body ~= 'HAND' and body ~= 'WRIST' then return end
  RestApiPost('/dicom-web/servers/carpus/stow', DumpJson({ Resources = { instanceId }, Asynchronous = true }, true))
end
`;
